//! Checking an uploaded file before anyone is served it: the real type from its magic bytes,
//! its length against what was declared, and for images a full decode under limits, a
//! re-encode that carries no metadata (EXIF and its GPS position are gone; the orientation it
//! named is applied to the pixels first), and a thumbnail.
//!
//! Pure functions over bytes: no AWS, no HTTP. `crate::store` and the upload functions decide
//! what to do with the verdict.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::domain::MediaType;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIZE: u32 = 256;
/// The most pixels an image may have (e.g. 8000 × 5000). Checked from the header, before any
/// pixel is decoded, so a small file that claims a huge canvas (a decompression bomb) is
/// refused without allocating it.
pub const MAX_PIXELS: u64 = 40_000_000;
/// The longest side an image may have, in pixels, whatever its area (a 40000 × 1 strip is
/// within [`MAX_PIXELS`] but no photo). Checked from the header too.
pub const MAX_SIDE: u32 = 20_000;
/// The most memory a decoder may ask for, a second line behind [`MAX_PIXELS`].
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// Quality of re-encoded JPEGs.
const JPEG_QUALITY: u8 = 85;

/// What to store for a file that passed.
#[derive(Debug, Clone)]
pub struct Cleaned {
    /// The bytes to serve: re-encoded for images, as uploaded otherwise.
    pub bytes: Vec<u8>,
    /// Their type (the declared one, confirmed).
    pub media_type: MediaType,
    /// Width and height, for images.
    pub dimensions: Option<(u32, u32)>,
    /// A preview, for images: (bytes, type).
    pub thumbnail: Option<(Vec<u8>, MediaType)>,
}

/// Why a file was refused, in words its owner can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

/// The type the bytes really are, from their signature; UTF-8 without binary control
/// characters counts as plain text. `None`: nothing Keel accepts.
pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
    if let Some(kind) = infer::get(bytes) {
        return MediaType::from_mime(kind.mime_type());
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let binary = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'));
    (!binary && !looks_like_markup(text)).then_some(MediaType::Text)
}

/// HTML or SVG smuggled in as "text": refused, so nothing we serve can become a page.
fn looks_like_markup(text: &str) -> bool {
    let head: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    [
        "<!doctype",
        "<html",
        "<svg",
        "<?xml",
        "<script",
        "<head",
        "<body",
        "<iframe",
    ]
    .iter()
    .any(|tag| head.starts_with(tag))
}

/// Checks `bytes` against what was declared and cleans them. `Err` says why they are refused.
///
/// `stored_size` is the object's whole length; `bytes` may stop short of it when it is longer
/// than declared (the object is then refused without being read whole).
pub fn check(
    declared: MediaType,
    declared_size: u64,
    stored_size: u64,
    bytes: &[u8],
) -> Result<Cleaned, Rejection> {
    if stored_size != declared_size || bytes.len() as u64 != stored_size {
        return Err(Rejection(format!(
            "the file is {stored_size} bytes, but {declared_size} were declared"
        )));
    }
    if bytes.is_empty() {
        return Err(Rejection("the file is empty".into()));
    }
    let found = sniff(bytes);
    if found != Some(declared) {
        let found = match (found, infer::get(bytes)) {
            (Some(media), _) => media.mime().to_owned(),
            (None, Some(kind)) => kind.mime_type().to_owned(),
            (None, None) if looks_like_markup(&String::from_utf8_lossy(&bytes[..bytes.len().min(256)])) => {
                "HTML or XML markup".to_owned()
            }
            (None, None) => "of no accepted type".to_owned(),
        };
        return Err(Rejection(format!(
            "the file's content is {found}, but {} was declared",
            declared.mime()
        )));
    }
    if !declared.is_image() {
        return Ok(Cleaned {
            bytes: bytes.to_vec(),
            media_type: declared,
            dimensions: None,
            thumbnail: None,
        });
    }
    clean_image(declared, bytes)
}

fn format_of(media: MediaType) -> ImageFormat {
    match media {
        MediaType::Jpeg => ImageFormat::Jpeg,
        MediaType::Png => ImageFormat::Png,
        MediaType::Gif => ImageFormat::Gif,
        _ => ImageFormat::WebP,
    }
}

/// The decoder's own limits: the same bounds as the header check, a second line behind it.
/// `with_sides: false` is for reading the header, so that a canvas over [`MAX_SIDE`] is refused
/// by [`canvas_refusal`] with its size named rather than by the decoder's "size exceeds limit".
fn limits(with_sides: bool) -> Limits {
    let mut limits = Limits::default();
    if with_sides {
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
    }
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Why a canvas of `width` × `height` is refused before decoding, in its owner's words.
fn canvas_refusal(width: u32, height: u32) -> Option<Rejection> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Some(Rejection(format!(
            "the image is {width} × {height} pixels; the most accepted is {} megapixels",
            MAX_PIXELS / 1_000_000
        )));
    }
    if width.max(height) > MAX_SIDE {
        return Some(Rejection(format!(
            "the image is {width} × {height} pixels; the most accepted is {MAX_SIDE} pixels on a side"
        )));
    }
    None
}

fn clean_image(media: MediaType, bytes: &[u8]) -> Result<Cleaned, Rejection> {
    let undecodable = |e: image::ImageError| Rejection(format!("the image could not be decoded ({e})"));
    let reader = |bytes, with_sides| {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format_of(media));
        reader.limits(limits(with_sides));
        reader
    };
    // The header alone says how big the canvas is: refuse a bomb before decoding it.
    let (width, height) = reader(bytes, false).into_dimensions().map_err(undecodable)?;
    if let Some(refusal) = canvas_refusal(width, height) {
        return Err(refusal);
    }
    let mut decoder = reader(bytes, true).into_decoder().map_err(undecodable)?;
    let orientation = decoder.orientation().map_err(undecodable)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => {
            Rejection("the image needs more memory to decode than allowed".into())
        }
        e => undecodable(e),
    })?;
    image.apply_orientation(orientation);
    let cleaned = encode(&image, media)?;
    let preview = image.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
    let preview_type = media.thumbnail_type();
    let thumbnail = encode(&preview, preview_type)?;
    Ok(Cleaned {
        bytes: cleaned,
        media_type: media,
        dimensions: Some((image.width(), image.height())),
        thumbnail: Some((thumbnail, preview_type)),
    })
}

/// Encodes pixels only: none of the encoders used writes EXIF, XMP or text chunks.
fn encode(image: &DynamicImage, media: MediaType) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::new();
    let failed = |e: image::ImageError| Rejection(format!("the image could not be re-encoded ({e})"));
    match media {
        MediaType::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            image.to_rgb8().write_with_encoder(encoder).map_err(failed)?;
        }
        MediaType::Png => {
            let encoder = image::codecs::png::PngEncoder::new(&mut out);
            if image.color().has_alpha() {
                image.to_rgba8().write_with_encoder(encoder).map_err(failed)?;
            } else {
                image.to_rgb8().write_with_encoder(encoder).map_err(failed)?;
            }
        }
        MediaType::Gif => {
            let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
            encoder
                .encode_frame(image::Frame::new(image.to_rgba8()))
                .map_err(failed)?;
        }
        MediaType::Webp => {
            let encoder = image::codecs::webp::WebPEncoder::new_lossless(&mut out);
            image.to_rgba8().write_with_encoder(encoder).map_err(failed)?;
        }
        MediaType::Pdf | MediaType::Text => unreachable!("BUG: only images are re-encoded"),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgb8(width, height);
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_png_is_recognised_by_its_bytes_whatever_it_is_called() {
        assert_eq!(sniff(&png(2, 2)), Some(MediaType::Png));
        assert_eq!(sniff(b"hello\nworld"), Some(MediaType::Text));
        assert_eq!(sniff(b"<!DOCTYPE html><html>"), None);
        assert_eq!(sniff(b"\x00\x01binary"), None);
    }

    #[test]
    fn html_declared_as_jpeg_is_rejected_naming_what_it_is() {
        let html = b"<html><script>alert(1)</script></html>";
        let rejection = check(MediaType::Jpeg, html.len() as u64, html.len() as u64, html).unwrap_err();
        assert_eq!(
            rejection.0,
            "the file's content is text/html, but image/jpeg was declared"
        );
    }

    #[test]
    fn a_size_other_than_declared_or_an_empty_file_is_rejected() {
        let bytes = png(4, 4);
        assert!(check(MediaType::Png, bytes.len() as u64 + 1, bytes.len() as u64, &bytes).is_err());
        assert_eq!(
            check(MediaType::Png, 0, 0, &[]).unwrap_err().0,
            "the file is empty"
        );
    }

    #[test]
    fn a_png_declared_as_jpeg_is_rejected() {
        let bytes = png(4, 4);
        let rejection = check(MediaType::Jpeg, bytes.len() as u64, bytes.len() as u64, &bytes).unwrap_err();
        assert_eq!(
            rejection.0,
            "the file's content is image/png, but image/jpeg was declared"
        );
    }

    #[test]
    fn an_image_gets_a_thumbnail_no_larger_than_256_pixels() {
        let bytes = png(1000, 500);
        let cleaned = check(MediaType::Png, bytes.len() as u64, bytes.len() as u64, &bytes).unwrap();
        assert_eq!(cleaned.dimensions, Some((1000, 500)));
        let (thumb, kind) = cleaned.thumbnail.unwrap();
        assert_eq!(kind, MediaType::Png);
        let thumb = image::load_from_memory(&thumb).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (256, 128));
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        // 10000 × 10000 grey pixels of one shade compress ~1000:1.
        let mut bomb = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new_with_quality(
            &mut bomb,
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::NoFilter,
        );
        DynamicImage::new_luma8(10_000, 10_000)
            .write_with_encoder(encoder)
            .unwrap();
        assert!(bomb.len() < 300_000, "{}", bomb.len());
        let rejection = check(MediaType::Png, bomb.len() as u64, bomb.len() as u64, &bomb).unwrap_err();
        assert!(rejection.0.contains("10000 × 10000"), "{rejection}");
    }

    /// A PNG whose header claims `width` × `height` over one row of real pixel data: all the
    /// header check may read, never decodable.
    fn png_claiming(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = png(1, 1);
        // Signature (8), IHDR length (4) and type (4), then width and height, then the CRC
        // over type and data (13 bytes).
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_canvas_beyond_every_limit_is_refused_naming_its_size_not_as_undecodable() {
        for (width, height, limit) in [
            (50_000, 50_000, "the most accepted is 40 megapixels"),
            (7_000, 7_000, "the most accepted is 40 megapixels"),
            (40_000, 1, "the most accepted is 20000 pixels on a side"),
            (1, 20_001, "the most accepted is 20000 pixels on a side"),
        ] {
            let bytes = png_claiming(width, height);
            let rejection =
                check(MediaType::Png, bytes.len() as u64, bytes.len() as u64, &bytes).unwrap_err();
            assert_eq!(
                rejection.0,
                format!("the image is {width} × {height} pixels; {limit}"),
                "{width} × {height}"
            );
        }
    }
}

//! Uploads: what a client may declare before sending a file (purpose, type, size, name), what
//! each purpose accepts, and the record the API keeps. The bytes never pass through here: they
//! go straight to S3 under a key the server makes, and are checked when the upload is
//! finalised (`crate::media`).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::FieldErrors;
use super::ids::uuid_id;
use super::{ArticleId, ProductId, UserId, collect, required};

uuid_id!(
    /// An upload's id (UUID): its key in the table and in the bucket.
    UploadId
);

impl UploadId {
    /// The upload a URL's path names as `…/api/uploads/<id>/content` (how an avatar or a
    /// product image refers to an upload), whatever the host.
    pub fn from_content_url(url: &str) -> Option<Self> {
        let path = url.split(['?', '#']).next()?;
        let (_, id) = path.strip_suffix("/content")?.rsplit_once("/api/uploads/")?;
        Self::parse(id)
    }

    /// The uploads `text` links as `…/api/uploads/<id>/content` (an article's Markdown images),
    /// each once, in id order.
    pub fn linked_in(text: &str) -> BTreeSet<Self> {
        const MARK: &str = "/api/uploads/";
        text.match_indices(MARK)
            .filter_map(|(at, _)| {
                let rest = &text[at + MARK.len()..];
                let id = rest.get(..36)?;
                // `/content` ends the path: `/contents` or `/content/x` is another URL.
                let after = rest[36..].strip_prefix("/content")?;
                let ends = after
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || "-_./".contains(c)));
                ends.then(|| Self::parse(id)).flatten()
            })
            .collect()
    }
}

/// How many uploads one article may show: each is attached in the article's own transaction.
pub const MAX_ARTICLE_IMAGES: usize = 10;

const MIB: u64 = 1024 * 1024;

/// What a user may keep in storage, ready and pending together.
pub const MAX_USER_BYTES: u64 = 500 * MIB;
/// How many uploads a user may have announced but not yet finished.
pub const MAX_PENDING_UPLOADS: usize = 10;

/// A type Keel accepts, as sniffed from the bytes and as declared by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `image/jpeg`
    Jpeg,
    /// `image/png`
    Png,
    /// `image/gif`
    Gif,
    /// `image/webp`
    Webp,
    /// `application/pdf`
    Pdf,
    /// `text/plain` (UTF-8)
    Text,
}

impl MediaType {
    /// Every type accepted, in the order the API documents them.
    pub const ALL: [MediaType; 6] = [
        MediaType::Jpeg,
        MediaType::Png,
        MediaType::Gif,
        MediaType::Webp,
        MediaType::Pdf,
        MediaType::Text,
    ];

    /// The MIME type, as declared, stored and served.
    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Gif => "image/gif",
            MediaType::Webp => "image/webp",
            MediaType::Pdf => "application/pdf",
            MediaType::Text => "text/plain",
        }
    }

    /// Parses a MIME type (parameters such as `; charset=utf-8` are ignored, case is not).
    pub fn from_mime(raw: &str) -> Option<Self> {
        let essence = raw
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        Self::ALL.into_iter().find(|t| t.mime() == essence)
    }

    /// File name extensions that may carry this type.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            MediaType::Jpeg => &["jpg", "jpeg", "jpe", "jfif"],
            MediaType::Png => &["png"],
            MediaType::Gif => &["gif"],
            MediaType::Webp => &["webp"],
            MediaType::Pdf => &["pdf"],
            MediaType::Text => &["txt", "text", "md", "csv", "log"],
        }
    }

    /// The type of an image's thumbnail: JPEG for JPEGs (photos), PNG for the others (they may
    /// be transparent).
    pub fn thumbnail_type(self) -> MediaType {
        if self == MediaType::Jpeg {
            MediaType::Jpeg
        } else {
            MediaType::Png
        }
    }

    /// True for the types Keel decodes, cleans and thumbnails.
    pub fn is_image(self) -> bool {
        matches!(
            self,
            MediaType::Jpeg | MediaType::Png | MediaType::Gif | MediaType::Webp
        )
    }
}

/// What an upload is for. Each purpose has its own size limit and types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A user's profile picture (public once set).
    Avatar,
    /// An image in an article (public once the article shows it).
    Article,
    /// A product photo (public once set on a product; admins only).
    Product,
    /// A private file: a document, an image or plain text; always downloaded, never rendered.
    Attachment,
}

impl Purpose {
    /// Every purpose, in the order the API documents them.
    pub const ALL: [Purpose; 4] = [
        Purpose::Avatar,
        Purpose::Article,
        Purpose::Product,
        Purpose::Attachment,
    ];

    /// As sent and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Avatar => "avatar",
            Purpose::Article => "article",
            Purpose::Product => "product",
            Purpose::Attachment => "attachment",
        }
    }

    /// Parses the wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// The largest file this purpose accepts, in bytes.
    pub fn max_bytes(self) -> u64 {
        match self {
            Purpose::Avatar => 2 * MIB,
            Purpose::Article | Purpose::Product => 10 * MIB,
            Purpose::Attachment => 25 * MIB,
        }
    }

    /// The types this purpose accepts.
    pub fn accepts(self, media: MediaType) -> bool {
        media.is_image() || self == Purpose::Attachment
    }

    fn accepted_list(self) -> String {
        MediaType::ALL
            .into_iter()
            .filter(|t| self.accepts(*t))
            .map(MediaType::mime)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The name the client gave its file: shown back and offered on download, never used as a
/// storage key. A bare name: no folders, no control characters, at most
/// [`Filename::MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filename(String);

impl Filename {
    /// Longest name, in characters (as JSON Schema's `maxLength` counts): what desktop file
    /// systems allow for one path component.
    pub const MAX_LEN: usize = 255;

    /// Parses an untrusted name.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
        let name = required("filename", raw)?;
        let problem = if name.chars().count() > Self::MAX_LEN {
            Some("is too long (maximum is 255 characters)")
        } else if name.chars().any(char::is_control) {
            Some("must not contain control characters")
        } else if name.contains(['/', '\\']) || name.starts_with('.') || name.ends_with('.') {
            Some("must be a bare file name (no folders, not starting or ending with a dot)")
        } else if name
            .chars()
            .any(|c| matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*'))
        {
            Some("must not contain any of \" < > : | ? *")
        } else {
            None
        };
        match problem {
            Some(message) => Err(FieldErrors::single("filename", message)),
            None => Ok(Self(name.to_owned())),
        }
    }

    /// Wraps a name read back from our own table.
    pub fn from_trusted(name: String) -> Self {
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The extension, lower-cased, if the name has one.
    fn extension(&self) -> Option<String> {
        self.0
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .filter(|ext| !ext.is_empty())
    }
}

/// A validated announcement of an upload.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// What it is for.
    pub purpose: Purpose,
    /// The client's name for it.
    pub filename: Filename,
    /// The type the client says it is (checked against the bytes later).
    pub media_type: MediaType,
    /// The exact length the client will send; S3 refuses any other.
    pub size: u64,
}

/// An announced upload's fields as sent, unchecked, by name (the wire's shape is the
/// handler's DTO): `None` is a field left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct UploadFields<'a> {
    /// File name.
    pub filename: Option<&'a str>,
    /// MIME type.
    pub content_type: Option<&'a str>,
    /// Length in bytes, as JSON so a float or a string gets a precise message.
    pub size: Option<&'a Value>,
    /// `avatar`, `article`, `product` or `attachment`.
    pub purpose: Option<&'a str>,
}

impl NewUpload {
    /// Validates every field, reporting all bad ones at once.
    pub fn parse(fields: UploadFields<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let purpose = collect(&mut errors, purpose_of(fields.purpose));
        let filename = collect(&mut errors, Filename::parse(fields.filename));
        let media_type = collect(&mut errors, media_type_of(fields.content_type, purpose));
        if let (Some(name), Some(media)) = (&filename, media_type)
            && let Some(ext) = name.extension()
            && !media.extensions().contains(&ext.as_str())
        {
            errors.push(
                "filename",
                format!("has extension .{ext}, which does not match {}", media.mime()),
            );
        }
        let size = collect(&mut errors, size_of(fields.size, purpose));
        match (purpose, filename, media_type, size) {
            (Some(purpose), Some(filename), Some(media_type), Some(size)) if errors.is_empty() => Ok(Self {
                purpose,
                filename,
                media_type,
                size,
            }),
            _ => Err(errors),
        }
    }
}

/// `purpose`: one of the purposes an upload may serve.
fn purpose_of(raw: Option<&str>) -> Result<Purpose, FieldErrors> {
    Purpose::parse(required("purpose", raw)?)
        .ok_or_else(|| FieldErrors::single("purpose", "must be one of avatar, article, product, attachment"))
}

/// `contentType`: a type Keel accepts, and (when the purpose is known) one that purpose accepts.
fn media_type_of(raw: Option<&str>, purpose: Option<Purpose>) -> Result<MediaType, FieldErrors> {
    let Some(media) = MediaType::from_mime(required("contentType", raw)?) else {
        return Err(FieldErrors::single(
            "contentType",
            "must be one of image/jpeg, image/png, image/gif, image/webp, application/pdf, text/plain",
        ));
    };
    match purpose {
        Some(purpose) if !purpose.accepts(media) => Err(FieldErrors::single(
            "contentType",
            format!(
                "is not accepted for {} uploads (accepted: {})",
                purpose.as_str(),
                purpose.accepted_list()
            ),
        )),
        _ => Ok(media),
    }
}

/// `size`: a whole number of bytes, more than 0, within the purpose's limit when it is known.
fn size_of(raw: Option<&Value>, purpose: Option<Purpose>) -> Result<u64, FieldErrors> {
    let raw = raw
        .filter(|v| !v.is_null())
        .ok_or_else(|| FieldErrors::single("size", "can't be blank"))?;
    match super::json_whole(raw).and_then(|n| u64::try_from(n).ok()) {
        Some(0) => Err(FieldErrors::single(
            "size",
            "must be greater than 0 (empty files are not accepted)",
        )),
        Some(size) => match purpose {
            Some(purpose) if size > purpose.max_bytes() => Err(FieldErrors::single(
                "size",
                format!(
                    "is too large for {} uploads (maximum is {} bytes)",
                    purpose.as_str(),
                    purpose.max_bytes()
                ),
            )),
            _ => Ok(size),
        },
        None => Err(FieldErrors::single(
            "size",
            "must be a whole number of bytes greater than 0",
        )),
    }
}

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStatus {
    /// Announced; the bytes may or may not have arrived; not checked yet.
    Pending,
    /// Checked (and, for images, cleaned): can be downloaded and attached.
    Ready,
    /// The bytes were not what was declared; `reason` says why. Nothing is kept in the bucket.
    Rejected,
}

impl UploadStatus {
    /// Every status, in the order of an upload's life.
    pub const ALL: [UploadStatus; 3] = [UploadStatus::Pending, UploadStatus::Ready, UploadStatus::Rejected];

    /// As stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Pending => "pending",
            UploadStatus::Ready => "ready",
            UploadStatus::Rejected => "rejected",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Which file of an upload to download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The (cleaned) file itself.
    Original,
    /// The 256 px preview of an image.
    Thumbnail,
}

impl Variant {
    /// Both variants; the first is the default.
    pub const ALL: [Variant; 2] = [Variant::Original, Variant::Thumbnail];

    /// As sent in `?variant=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Thumbnail => "thumbnail",
        }
    }

    /// Parses `?variant=`: absent or `original`, or `thumbnail`.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
        let Some(raw) = raw else {
            return Ok(Variant::Original);
        };
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == raw)
            .ok_or_else(|| FieldErrors::single("variant", "must be original or thumbnail"))
    }
}

/// What an upload is attached to: something public that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// A user's avatar.
    Avatar(UserId),
    /// A product's image.
    Product(ProductId),
    /// One of an article's images.
    Article(ArticleId),
}

impl Attachment {
    /// As stored: `avatar#<user id>`, `product#<product id>`.
    pub fn key(&self) -> String {
        match self {
            Attachment::Avatar(user) => format!("avatar#{user}"),
            Attachment::Product(product) => format!("product#{product}"),
            Attachment::Article(article) => format!("article#{article}"),
        }
    }
}

/// An upload's record: who owns it, what was declared, and what the check found.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Its id.
    pub id: UploadId,
    /// The owner's user id.
    pub owner: String,
    /// What it is for.
    pub purpose: Purpose,
    /// The client's file name.
    pub filename: Filename,
    /// Declared (and, once ready, verified) type.
    pub media_type: MediaType,
    /// Declared (and, once ready, verified) length of what was uploaded.
    pub size: u64,
    /// Where it is in its life.
    pub status: UploadStatus,
    /// Why it was rejected, in words the owner can act on.
    pub reason: Option<String>,
    /// Width and height, for images that are ready.
    pub dimensions: Option<(u32, u32)>,
    /// Whether a thumbnail exists.
    pub has_thumbnail: bool,
    /// What shows it publicly, if anything: then anyone may download it.
    pub attached_to: Option<String>,
    /// When it was announced.
    pub created_at: String,
}

impl Upload {
    /// True when anyone may read it: it is ready and something public shows it.
    pub fn is_public(&self) -> bool {
        self.status == UploadStatus::Ready && self.attached_to.is_some()
    }

    /// The `Content-Disposition` a download carries: images meant to be shown are `inline`;
    /// attachments (and anything that is not an image) are always downloaded, so a file can
    /// never be rendered as a page.
    pub fn content_disposition(&self) -> String {
        let kind = if self.media_type.is_image() && self.purpose != Purpose::Attachment {
            "inline"
        } else {
            "attachment"
        };
        content_disposition(kind, self.filename.as_str())
    }
}

/// RFC 6266: an ASCII fallback name and the exact UTF-8 name, percent-encoded.
fn content_disposition(kind: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_article_body_links_each_upload_once_whatever_the_host_and_ignores_look_alikes() {
        let id = "0b0e7a53-8c1e-4a0f-9a55-2d6c2f7f3c11";
        let other = "1b0e7a53-8c1e-4a0f-9a55-2d6c2f7f3c11";
        let third = "2b0e7a53-8c1e-4a0f-9a55-2d6c2f7f3c11";
        let text = format!(
            "![a](https://api.example.com/api/uploads/{id}/content) ![b](/api/uploads/{id}/content?variant=thumbnail) \
             [c](/api/uploads/{other}/content) /api/uploads/{third}/contents /api/uploads/not-a-uuid/content \
             /api/uploads/é/content /api/uploads/{}",
            &other[..10]
        );
        let linked: Vec<String> = UploadId::linked_in(&text)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(linked, vec![id.to_owned(), other.to_owned()]);
    }

    fn parse(
        filename: &str,
        content_type: &str,
        size: Value,
        purpose: &str,
    ) -> Result<NewUpload, FieldErrors> {
        NewUpload::parse(UploadFields {
            filename: Some(filename),
            content_type: Some(content_type),
            size: Some(&size),
            purpose: Some(purpose),
        })
    }

    fn errors_of(filename: &str, content_type: &str, size: Value, purpose: &str) -> FieldErrors {
        parse(filename, content_type, size, purpose).expect_err("should be refused")
    }

    #[test]
    fn a_jpeg_avatar_within_two_mebibytes_is_accepted() {
        let upload = parse("me.JPG", "image/jpeg", 2_097_152.into(), "avatar").unwrap();
        assert_eq!(upload.media_type, MediaType::Jpeg);
        assert_eq!(upload.size, 2 * MIB);
    }

    #[test]
    fn sizes_that_are_zero_negative_fractional_or_over_the_limit_are_refused() {
        for size in [
            Value::from(0),
            Value::from(-5),
            Value::from(1.5),
            Value::from("10"),
            Value::from(2 * MIB + 1),
            Value::from(u64::MAX),
        ] {
            let errors = errors_of("a.png", "image/png", size.clone(), "avatar");
            assert!(errors.get("size").is_some(), "{size}: {errors:?}");
        }
    }

    #[test]
    fn an_unknown_purpose_or_type_is_refused_by_name() {
        assert!(
            errors_of("a.png", "image/png", 10.into(), "backup")
                .get("purpose")
                .is_some()
        );
        assert!(
            errors_of("a.svg", "image/svg+xml", 10.into(), "avatar")
                .get("contentType")
                .is_some()
        );
        assert!(
            errors_of("a.pdf", "application/pdf", 10.into(), "avatar")
                .get("contentType")
                .is_some()
        );
    }

    #[test]
    fn path_tricks_and_control_characters_in_the_filename_are_refused() {
        for name in [
            "../../etc/passwd",
            "a/b.png",
            "a\\b.png",
            ".htaccess",
            "..",
            "a\u{0}b.png",
            "a\nb.png",
            "a\"b.png",
            &"x".repeat(256),
            &"é".repeat(256),
        ] {
            let errors = errors_of(name, "image/png", 10.into(), "avatar");
            assert!(errors.get("filename").is_some(), "{name:?}");
        }
    }

    #[test]
    fn the_filename_limit_counts_characters_as_the_openapi_document_does() {
        let name = format!("{}.png", "é".repeat(Filename::MAX_LEN - 4));
        assert!(name.len() > Filename::MAX_LEN, "more bytes than characters");
        assert!(parse(&name, "image/png", 10.into(), "avatar").is_ok());
    }

    #[test]
    fn an_extension_that_contradicts_the_declared_type_is_refused() {
        let errors = errors_of("photo.exe", "image/png", 10.into(), "avatar");
        assert_eq!(
            errors.get("filename").unwrap(),
            ["has extension .exe, which does not match image/png"]
        );
        assert!(parse("notes", "text/plain", 10.into(), "attachment").is_ok());
    }

    #[test]
    fn attachments_are_always_downloaded_and_names_are_encoded() {
        let mut upload = Upload {
            id: UploadId::generate(),
            owner: "u".into(),
            purpose: Purpose::Attachment,
            filename: Filename::from_trusted("résumé \"final\".pdf".into()),
            media_type: MediaType::Pdf,
            size: 1,
            status: UploadStatus::Ready,
            reason: None,
            dimensions: None,
            has_thumbnail: false,
            attached_to: None,
            created_at: String::new(),
        };
        assert_eq!(
            upload.content_disposition(),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
        upload.purpose = Purpose::Avatar;
        upload.media_type = MediaType::Png;
        assert!(upload.content_disposition().starts_with("inline;"));
    }
}

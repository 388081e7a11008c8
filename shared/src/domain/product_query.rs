//! The public catalog's query: category, price range, order and page size.

use super::{Category, FieldErrors, Money, Page, collect};

/// How a product list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    /// Newest first (default).
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
}

impl ProductSort {
    /// Every order; the first is the default.
    pub const ALL: [ProductSort; 3] = [ProductSort::Newest, ProductSort::PriceAsc, ProductSort::PriceDesc];

    /// As sent in `?sort=`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductSort::Newest => "newest",
            ProductSort::PriceAsc => "price_asc",
            ProductSort::PriceDesc => "price_desc",
        }
    }
}

/// A product list query, validated.
#[derive(Debug, Clone)]
pub struct ProductQuery {
    /// Only this category.
    pub category: Option<Category>,
    /// Lowest price (minor units), inclusive.
    pub min_price: Option<i64>,
    /// Highest price (minor units), inclusive.
    pub max_price: Option<i64>,
    /// Order.
    pub sort: ProductSort,
    /// Page size, 1–100.
    pub limit: usize,
}

/// Parses a `limit` query value: 1–100, default 20.
pub fn parse_limit(raw: Option<&str>) -> Result<usize, FieldErrors> {
    // Absent is the default; present, it must be the number (`limit=` is not one).
    match raw {
        None => Ok(20),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=Page::MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(FieldErrors::single(
                "limit",
                format!("must be a whole number from 1 to {}", Page::MAX_LIMIT),
            )),
        },
    }
}

/// The catalog query's values as sent, each named: `minPrice` and `maxPrice` cannot trade
/// places unnoticed, as two positional `Option<&str>` could.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductQueryParams<'a> {
    /// `category`.
    pub category: Option<&'a str>,
    /// `minPrice`.
    pub min_price: Option<&'a str>,
    /// `maxPrice`.
    pub max_price: Option<&'a str>,
    /// `sort`.
    pub sort: Option<&'a str>,
    /// `limit`.
    pub limit: Option<&'a str>,
}

impl ProductQuery {
    /// Parses the query-string values.
    pub fn parse(params: ProductQueryParams<'_>) -> Result<Self, FieldErrors> {
        let ProductQueryParams {
            category,
            min_price,
            max_price,
            sort,
            limit,
        } = params;
        let mut errors = FieldErrors::default();
        let category = match category {
            Some(raw) => collect(&mut errors, Category::parse(Some(raw))).map(Some),
            None => Some(None),
        };
        let price = |field: &'static str, raw: Option<&str>| match raw {
            None => Ok(None),
            Some(text) => match text.trim().parse::<i64>() {
                Ok(n) if (0..=Money::MAX_AMOUNT).contains(&n) => Ok(Some(n)),
                _ => Err(FieldErrors::single(
                    field,
                    format!(
                        "must be a whole number of minor units from 0 to {}",
                        Money::MAX_AMOUNT
                    ),
                )),
            },
        };
        let min_price = collect(&mut errors, price("minPrice", min_price));
        let max_price = collect(&mut errors, price("maxPrice", max_price));
        let sort = match sort {
            None => Some(ProductSort::Newest),
            Some(raw) => {
                let sort = ProductSort::ALL.into_iter().find(|s| s.as_str() == raw);
                if sort.is_none() {
                    errors.push("sort", "must be newest, price_asc or price_desc");
                }
                sort
            }
        };
        let limit = collect(&mut errors, parse_limit(limit));
        match (category, min_price, max_price, sort, limit) {
            (Some(category), Some(min_price), Some(max_price), Some(sort), Some(limit))
                if errors.is_empty() =>
            {
                Ok(Self {
                    category,
                    min_price,
                    max_price,
                    sort,
                    limit,
                })
            }
            _ => Err(errors),
        }
    }
}

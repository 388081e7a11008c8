//! Money: integer minor units in an ISO 4217 currency, never a float.

use serde_json::Value;

use super::FieldErrors;

/// ISO 4217 codes of the currencies in use (2026), alphabetical.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL \
BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP \
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW \
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO \
NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD \
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG \
XOF XPF YER ZAR ZMW ZWG";

/// An ISO 4217 currency code, e.g. `EUR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// Every code accepted, alphabetical (the OpenAPI document lists them).
    pub fn codes() -> impl Iterator<Item = &'static str> {
        CURRENCIES.split(' ')
    }

    /// Parses a code; only codes of currencies in use are accepted, in upper case.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 3 && CURRENCIES.split(' ').any(|code| code == raw)).then(|| Self(raw.to_owned()))
    }

    /// Wraps a code read back from our own table.
    pub fn from_trusted(code: String) -> Self {
        Self(code)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of money in integer minor units (cents for EUR), never a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Minor units, `0..=Money::MAX_AMOUNT`.
    amount: i64,
    currency: Currency,
}

impl Money {
    /// The largest price accepted (10 billion in major units of a two-decimal currency): far
    /// from overflow even multiplied by 100 units × 49 lines.
    pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

    /// Wraps a price read back from our own table.
    pub fn from_trusted(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Minor units, `0..=Money::MAX_AMOUNT`.
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// Its currency.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// Parses `{"amount": <integer>, "currency": "EUR"}`. Floats, strings and negative amounts
    /// are refused with a message naming `field`.
    pub fn parse(field: &'static str, raw: Option<&Value>) -> Result<Self, FieldErrors> {
        let Some(raw) = raw.filter(|v| !v.is_null()) else {
            return Err(FieldErrors::single(field, "can't be blank"));
        };
        let Some(object) = raw.as_object() else {
            return Err(FieldErrors::single(
                field,
                r#"must be an object {"amount": <integer minor units>, "currency": "<ISO 4217>"}"#,
            ));
        };
        let mut errors = FieldErrors::default();
        let amount = match object.get("amount") {
            Some(number) if super::json_whole(number).is_some() || number.is_u64() => {
                match super::json_whole(number) {
                    Some(a) if (0..=Self::MAX_AMOUNT).contains(&a) => Some(a),
                    _ => {
                        errors.push(
                            format!("{field}.amount"),
                            format!("must be from 0 to {}", Self::MAX_AMOUNT),
                        );
                        None
                    }
                }
            }
            None | Some(Value::Null) => {
                errors.push(format!("{field}.amount"), "can't be blank");
                None
            }
            Some(_) => {
                errors.push(
                    format!("{field}.amount"),
                    "must be an integer number of minor units (cents), not a decimal or a string",
                );
                None
            }
        };
        let currency = match object.get("currency").and_then(Value::as_str) {
            Some(code) => {
                let parsed = Currency::parse(code);
                if parsed.is_none() {
                    errors.push(
                        format!("{field}.currency"),
                        "must be an ISO 4217 code in use, in capitals (e.g. EUR)",
                    );
                }
                parsed
            }
            None => {
                errors.push(format!("{field}.currency"), "can't be blank");
                None
            }
        };
        match (amount, currency) {
            (Some(amount), Some(currency)) => Ok(Self { amount, currency }),
            _ => Err(errors),
        }
    }
}

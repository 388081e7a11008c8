//! Dispatch by name: the local server (and the tests) look an endpoint up by the binary name
//! `template.yaml` gives its function. Lambda binaries never see this table: each names its
//! own endpoint.

use keel::config::Needs;
use keel_functions::{
    Endpoint, articles, comments, orders, payments, products, profiles, streams, uploads, users,
};

macro_rules! registry {
    ($($module:ident :: $name:ident),* $(,)?) => {
        /// Every HTTP endpoint, with the path a binary names it by (`articles::GET`).
        pub const ENDPOINTS: &[(&str, &Endpoint)] = &[
            $((concat!(stringify!($module), "::", stringify!($name)), &$module::$name)),*
        ];
    };
}

registry![
    users::REGISTER,
    users::LOGIN,
    users::CURRENT,
    users::UPDATE,
    users::LOGOUT,
    profiles::GET,
    profiles::FOLLOW,
    profiles::UNFOLLOW,
    articles::LIST,
    articles::FEED,
    articles::GET,
    articles::CREATE,
    articles::UPDATE,
    articles::DELETE,
    articles::FAVORITE,
    articles::UNFAVORITE,
    articles::TAGS,
    comments::LIST,
    comments::ADD,
    comments::DELETE,
    products::CREATE,
    products::LIST,
    products::GET,
    products::UPDATE,
    products::ARCHIVE,
    products::ADJUST_STOCK,
    products::STOCK_HISTORY,
    orders::PLACE,
    orders::LIST,
    orders::GET,
    orders::CANCEL,
    orders::FULFIL,
    orders::ADMIN_LIST,
    payments::WEBHOOK,
    payments::MARK_PAID,
    uploads::CREATE,
    uploads::LIST,
    uploads::GET,
    uploads::CONTENT,
    uploads::COMPLETE,
    uploads::DELETE,
];

/// A binary that is not an HTTP endpoint: an event consumer.
#[derive(Debug, Clone, Copy)]
pub struct EventFunction {
    /// The binary `template.yaml` names.
    pub binary: &'static str,
    /// What its cold start loads.
    pub needs: Needs,
    /// The `main` its binary must call.
    pub main: &'static str,
}

/// The event consumers.
pub const EVENT_FUNCTIONS: &[EventFunction] = &[
    EventFunction {
        binary: streams::FEED_FANOUT,
        needs: streams::FEED_FANOUT_NEEDS,
        main: "keel_functions::streams::serve()",
    },
    EventFunction {
        binary: uploads::FINALISE,
        needs: uploads::FINALISE_NEEDS,
        main: "keel_functions::uploads::serve_finalise()",
    },
    EventFunction {
        binary: payments::EXPIRE,
        needs: payments::EXPIRE_NEEDS,
        main: "keel_functions::payments::serve_expiry()",
    },
];

/// The endpoint behind `binary`.
pub fn endpoint(binary: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|(_, endpoint)| endpoint.binary == binary)
        .map(|(_, endpoint)| *endpoint)
}

/// What `binary`'s cold start loads, for HTTP and stream functions alike.
pub fn needs(binary: &str) -> Option<Needs> {
    endpoint(binary).map(|e| e.needs).or_else(|| {
        EVENT_FUNCTIONS
            .iter()
            .find(|function| function.binary == binary)
            .map(|function| function.needs)
    })
}

//! Which template route a request is for, chosen as API Gateway chooses: among the routes of
//! the request's method (then `ANY`), the most specific path — a literal segment before
//! `{param}` before `{param+}` — with the path parameters percent-decoded. Each method's paths
//! live in a `matchit` tree, which ranks segments the same way.

use std::collections::BTreeMap;

/// Why a request matched no route.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path.
    NotFound,
    /// Routes of other methods have it: those of its most specific path, for `Allow`.
    MethodNotAllowed(Vec<String>),
}

/// The routes, by method.
pub struct Router<T> {
    /// Each route's method, specificity and value, by index.
    routes: Vec<(String, Vec<u8>, T)>,
    /// Each method's paths (with the `ANY` routes it does not override) → route index.
    tables: BTreeMap<String, matchit::Router<usize>>,
    /// The `ANY` routes alone, for methods no route names.
    any: matchit::Router<usize>,
}

impl<T> Router<T> {
    /// Builds the tables from `(method, path template, value)`; a route declared twice, or
    /// two routes naming different parameters in the same place, is an error.
    pub fn new(routes: impl IntoIterator<Item = (String, String, T)>) -> anyhow::Result<Self> {
        let routes: Vec<(String, String, T)> = routes.into_iter().collect();
        let mut tables: BTreeMap<String, matchit::Router<usize>> = BTreeMap::new();
        let mut any = matchit::Router::new();
        for (index, (method, path, _)) in routes.iter().enumerate() {
            let table = if method == "ANY" {
                &mut any
            } else {
                tables.entry(method.clone()).or_default()
            };
            table
                .insert(pattern(path), index)
                .map_err(|e| anyhow::anyhow!("route {method} {path}: {e}"))?;
        }
        for (index, (method, path, _)) in routes.iter().enumerate() {
            if method != "ANY" {
                continue;
            }
            for table in tables.values_mut() {
                match table.insert(pattern(path), index) {
                    Ok(()) => {}
                    // The method's own route on the same path wins over `ANY`, as in API Gateway.
                    Err(matchit::InsertError::Conflict { with }) if with == pattern(path) => {}
                    Err(e) => anyhow::bail!("route ANY {path}: {e}"),
                }
            }
        }
        let routes = routes
            .into_iter()
            .map(|(method, path, value)| (method, specificity(&path), value))
            .collect();
        Ok(Self { routes, tables, any })
    }

    /// Every route's value, in the order given.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.routes.iter().map(|(_, _, value)| value)
    }

    /// The route for `method` and `path`, with its decoded path parameters.
    pub fn find(&self, method: &str, path: &str) -> Result<(&T, BTreeMap<String, String>), Miss> {
        let table = self.tables.get(method).unwrap_or(&self.any);
        if let Ok(found) = table.at(path) {
            let params: Option<BTreeMap<String, String>> = found
                .params
                .iter()
                .map(|(name, raw)| Some((name.to_owned(), decode(raw)?)))
                .collect();
            return match params {
                Some(params) => Ok((&self.routes[*found.value].2, params)),
                None => Err(Miss::NotFound),
            };
        }
        // A 405's `Allow` names the methods of the most specific path that matches: for
        // `/api/articles/feed` that is the feed's GET, not also `/api/articles/{slug}`'s methods.
        let mut allowed: Vec<String> = Vec::new();
        let mut best: Vec<u8> = Vec::new();
        for table in self.tables.values() {
            let Ok(found) = table.at(path) else {
                continue;
            };
            let (route_method, rank, _) = &self.routes[*found.value];
            if *rank > best {
                allowed.clear();
                best.clone_from(rank);
            }
            if *rank == best && !allowed.contains(route_method) {
                allowed.push(route_method.clone());
            }
        }
        if allowed.is_empty() {
            Err(Miss::NotFound)
        } else {
            Err(Miss::MethodNotAllowed(allowed))
        }
    }
}

/// A template path in `matchit`'s words: `{key+}` (greedy) becomes `{*key}`.
fn pattern(path: &str) -> String {
    path.split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                Some(name) => format!("{{*{name}}}"),
                None => part.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// How specific a path is, segment by segment, as API Gateway ranks it: literal 2, `{param}`
/// 1, `{param+}` 0.
fn specificity(path: &str) -> Vec<u8> {
    path.trim_start_matches('/')
        .split('/')
        .map(|part| match (part.starts_with('{'), part.ends_with("+}")) {
            (false, _) => 2,
            (true, false) => 1,
            (true, true) => 0,
        })
        .collect()
}

fn decode(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router<String> {
        Router::new(routes.iter().map(|(method, path)| {
            (
                (*method).to_owned(),
                (*path).to_owned(),
                format!("{method} {path}"),
            )
        }))
        .expect("valid routes")
    }

    #[test]
    fn literal_segments_beat_parameters_and_values_are_decoded() {
        let routes = router(&[
            ("GET", "/api/articles/feed"),
            ("GET", "/api/articles/{slug}"),
            ("DELETE", "/api/articles/{slug}"),
        ]);
        let (feed, _) = routes.find("GET", "/api/articles/feed").unwrap();
        assert_eq!(feed, "GET /api/articles/feed");
        let (article, params) = routes.find("GET", "/api/articles/a%20b").unwrap();
        assert_eq!(article, "GET /api/articles/{slug}");
        assert_eq!(params["slug"], "a b");
        // The literal has no DELETE, so the parameter route takes it, as in API Gateway.
        let (delete, params) = routes.find("DELETE", "/api/articles/feed").unwrap();
        assert_eq!(
            (delete.as_str(), params["slug"].as_str()),
            ("DELETE /api/articles/{slug}", "feed")
        );
        assert_eq!(routes.find("GET", "/api/articles/").unwrap_err(), Miss::NotFound);
        assert_eq!(
            routes.find("GET", "/api/articles/x/y").unwrap_err(),
            Miss::NotFound
        );
    }

    #[test]
    fn a_wrong_method_names_the_methods_of_the_most_specific_path_only() {
        let routes = router(&[
            ("GET", "/api/articles/feed"),
            ("PUT", "/api/articles/{slug}"),
            ("DELETE", "/api/articles/{slug}"),
        ]);
        assert_eq!(
            routes.find("POST", "/api/articles/feed").unwrap_err(),
            Miss::MethodNotAllowed(vec!["GET".into()])
        );
        assert_eq!(
            routes.find("POST", "/api/articles/other").unwrap_err(),
            Miss::MethodNotAllowed(vec!["DELETE".into(), "PUT".into()])
        );
    }

    #[test]
    fn a_greedy_parameter_takes_the_rest_of_the_path() {
        let routes = router(&[("GET", "/files/{key+}"), ("ANY", "/any/{id}")]);
        assert_eq!(routes.find("GET", "/files/a/b.png").unwrap().1["key"], "a/b.png");
        assert_eq!(routes.find("GET", "/files").unwrap_err(), Miss::NotFound);
        assert!(routes.find("PATCH", "/any/7").is_ok());
        assert!(routes.find("GET", "/any/7").is_ok());
    }
}

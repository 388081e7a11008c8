//! The template, the binaries, the handler registry and the `cargo lambda watch` router must
//! agree: every route has a function, every function a binary and a handler, and nothing is
//! left over on any side.

use std::collections::BTreeSet;
use std::path::PathBuf;

use keel_local::registry;
use keel_local::template::{Expr, Template};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Template {
    Template::load(&root().join("template.yaml")).expect("template.yaml parses")
}

fn binaries_on_disk() -> BTreeSet<String> {
    std::fs::read_dir(root().join("functions/src/bin"))
        .expect("functions/src/bin exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn registered_binaries() -> BTreeSet<String> {
    let http = registry::ENDPOINTS.iter().map(|(_, endpoint)| endpoint.binary);
    http.chain(registry::EVENT_FUNCTIONS.iter().map(|function| function.binary))
        .map(str::to_owned)
        .collect()
}

/// The Makefile's rule: `FooBarFunction` runs `foo-bar`.
fn binary_by_makefile_rule(logical_id: &str) -> String {
    let stem = logical_id.strip_suffix("Function").unwrap_or(logical_id);
    let mut binary = String::new();
    let mut previous_lower = false;
    for c in stem.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            binary.push('-');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        binary.push(c.to_ascii_lowercase());
    }
    binary
}

fn is_stream(binary: &str) -> bool {
    registry::EVENT_FUNCTIONS
        .iter()
        .any(|function| function.binary == binary)
}

#[test]
fn every_function_is_built_by_the_makefile_from_the_binary_its_name_says_with_a_handler() {
    let template = template();
    let on_disk = binaries_on_disk();
    for function in &template.functions {
        assert_eq!(
            function.build_method.as_deref(),
            Some("makefile"),
            "{}",
            function.logical_id
        );
        let binary = function
            .binary
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no Binary", function.logical_id));
        // The Makefile finds a function's binary by this rule alone.
        assert_eq!(
            binary,
            binary_by_makefile_rule(&function.logical_id),
            "{}: the Makefile copies the binary its logical id names",
            function.logical_id
        );
        assert!(
            on_disk.contains(binary),
            "{}: no functions/src/bin/{binary}.rs",
            function.logical_id
        );
        assert!(
            registry::needs(binary).is_some(),
            "{}: no endpoint for {binary}",
            function.logical_id
        );
    }
}

/// What `sam build` runs for every function, with cargo-lambda swapped for `true` and a target
/// folder holding one marked `bootstrap` per binary: each function must end up with its own.
#[test]
fn the_makefile_gives_every_function_the_bootstrap_of_its_own_binary() {
    let template = template();
    let target = tempfile::tempdir().unwrap();
    for function in &template.functions {
        let binary = function.binary.as_deref().unwrap();
        let built = target.path().join("lambda").join(binary);
        std::fs::create_dir_all(&built).unwrap();
        std::fs::write(built.join("bootstrap"), binary).unwrap();
    }
    for function in &template.functions {
        let artifacts = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("make")
            .current_dir(root())
            .arg("--silent")
            .arg(format!("build-{}", function.logical_id))
            .env("ARTIFACTS_DIR", artifacts.path())
            .env("CARGO_TARGET_DIR", target.path())
            .env("CARGO_LAMBDA", "true")
            .status()
            .expect("make runs");
        assert!(status.success(), "make build-{} failed", function.logical_id);
        assert_eq!(
            std::fs::read_to_string(artifacts.path().join("bootstrap")).unwrap(),
            function.binary.as_deref().unwrap(),
            "{}",
            function.logical_id
        );
    }
}

/// The workspace crates `keel-functions` is built from, by path dependency, and their folders.
fn function_crate_folders() -> BTreeSet<PathBuf> {
    let manifest = |dir: &std::path::Path| -> toml::Table {
        toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap()
    };
    let workspace = manifest(&root());
    let path_crates: std::collections::BTreeMap<&str, PathBuf> = workspace["workspace"]["dependencies"]
        .as_table()
        .unwrap()
        .iter()
        .filter_map(|(name, spec)| Some((name.as_str(), root().join(spec.get("path")?.as_str()?))))
        .collect();
    let mut folders = BTreeSet::new();
    let mut pending = vec![path_crates["keel-functions"].clone()];
    while let Some(dir) = pending.pop() {
        if !folders.insert(dir.canonicalize().unwrap()) {
            continue;
        }
        let crate_manifest = manifest(&dir);
        for section in ["dependencies", "build-dependencies"] {
            let names = crate_manifest.get(section).and_then(|t| t.as_table());
            for name in names.into_iter().flat_map(|t| t.keys()) {
                if let Some(dir) = path_crates.get(name.as_str()) {
                    pending.push(dir.clone());
                }
            }
        }
    }
    folders
}

/// `sam build --cached` hashes each function's CodeUri. The template points it at a folder of
/// links to exactly what a function binary is built from, and builds from the workspace root:
/// a CodeUri of `.` would hash target/ (gigabytes) once per function, and a folder missing an
/// input would let a cached build ship a stale binary.
#[test]
fn sam_hashes_exactly_what_the_function_binaries_are_built_from() {
    let raw: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap()).unwrap();
    let code_uri = raw["Globals"]["Function"]["CodeUri"]
        .as_str()
        .expect("a global CodeUri");
    for (id, resource) in raw["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        assert!(
            resource["Properties"].get("CodeUri").is_none(),
            "{id:?} overrides CodeUri"
        );
        for key in ["ProjectRootDirectory", "ContextPath"] {
            assert_eq!(
                resource["Metadata"][key].as_str(),
                Some("."),
                "{id:?}: Metadata.{key}"
            );
        }
    }
    let hashed: BTreeSet<PathBuf> = std::fs::read_dir(root().join(code_uri))
        .unwrap_or_else(|_| panic!("CodeUri {code_uri} exists"))
        .map(|entry| {
            let path = entry.unwrap().path();
            assert!(path.is_symlink(), "{} is not a link", path.display());
            path.canonicalize()
                .unwrap_or_else(|_| panic!("{} is a broken link", path.display()))
        })
        .collect();
    let mut inputs = function_crate_folders();
    for file in ["Cargo.toml", "Cargo.lock", "Makefile"] {
        inputs.insert(root().join(file).canonicalize().unwrap());
    }
    assert_eq!(
        hashed, inputs,
        "{code_uri} must link exactly the function binaries' inputs"
    );
}

#[test]
fn no_binary_or_handler_is_missing_from_the_template() {
    let in_template: BTreeSet<String> = template()
        .functions
        .iter()
        .filter_map(|f| f.binary.clone())
        .collect();
    assert_eq!(
        binaries_on_disk(),
        in_template,
        "functions/src/bin vs template.yaml"
    );
    assert_eq!(
        registered_binaries(),
        in_template,
        "keel_local::registry vs template.yaml"
    );
}

#[test]
fn each_binary_runs_the_endpoint_registered_under_its_name_and_no_other() {
    for (path, endpoint) in registry::ENDPOINTS {
        let file = root().join(format!("functions/src/bin/{}.rs", endpoint.binary));
        let source = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("{} exists", file.display()));
        assert!(
            source.contains(&format!("keel_functions::serve(&keel_functions::{path})")),
            "{} must serve {path}",
            file.display()
        );
        for (other, _) in registry::ENDPOINTS.iter().filter(|(other, _)| other != path) {
            assert!(
                !source.contains(&format!("keel_functions::{other})")),
                "{} names {other} as well",
                file.display()
            );
        }
    }
    for registry::EventFunction { binary, main, .. } in registry::EVENT_FUNCTIONS {
        let source = std::fs::read_to_string(root().join(format!("functions/src/bin/{binary}.rs"))).unwrap();
        assert!(source.contains(main), "{binary} must call {main}");
    }
}

/// A Lambda sandbox handles one invocation at a time, so a function needs no worker threads:
/// a single-threaded runtime starts faster (docs/BENCHMARKS.md) and `spawn_blocking` (argon2id)
/// still has its own pool.
#[test]
fn every_function_runs_on_a_single_threaded_runtime() {
    for binary in binaries_on_disk() {
        let source = std::fs::read_to_string(root().join(format!("functions/src/bin/{binary}.rs"))).unwrap();
        assert!(
            source.contains("#[tokio::main(flavor = \"current_thread\")]"),
            "{binary}: main must be #[tokio::main(flavor = \"current_thread\")]"
        );
    }
}

#[test]
fn only_functions_that_use_tokens_are_given_the_secret() {
    for function in template().functions {
        let binary = function.binary.as_deref().unwrap();
        let needs_tokens = registry::needs(binary).unwrap().tokens();
        let has_secret = function.environment.get("JWT_SECRET_ARN") == Some(&Expr::Ref("JwtSecret".into()));
        assert_eq!(
            has_secret, needs_tokens,
            "{}: JWT_SECRET_ARN in its environment must match whether it reads tokens",
            function.logical_id
        );
        assert_eq!(
            function.environment.get("TABLE_NAME"),
            Some(&Expr::Ref("Table".into())),
            "{}",
            function.logical_id
        );
    }
}

#[test]
fn only_functions_that_use_the_bucket_are_told_its_name() {
    for function in template().functions {
        let binary = function.binary.as_deref().unwrap();
        let needs_bucket = registry::needs(binary).unwrap().bucket();
        assert_eq!(
            function.environment.get("BUCKET_NAME") == Some(&Expr::Ref("Bucket".into())),
            needs_bucket,
            "{}: BUCKET_NAME in its environment must match whether it uses the bucket",
            function.logical_id
        );
    }
}

#[test]
fn uploads_are_finalised_by_an_object_created_rule_on_the_incoming_prefix_of_this_bucket() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let function = &doc["Resources"]["UploadFinaliseFunction"]["Properties"];
    let event = &function["Events"]["ObjectCreated"];
    assert_eq!(event["Type"].as_str(), Some("EventBridgeRule"));
    let pattern = &event["Properties"]["Pattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.s3"));
    assert_eq!(pattern["detail-type"][0].as_str(), Some("Object Created"));
    assert_eq!(
        pattern["detail"]["object"]["key"][0]["prefix"].as_str(),
        Some(keel::files::INCOMING_PREFIX),
        "the rule must select exactly the keys the API signs uploads for"
    );
    let bucket = &pattern["detail"]["bucket"]["name"][0];
    assert!(
        format!("{bucket:?}").contains("Bucket"),
        "the rule names this stack's bucket: {bucket:?}"
    );
    let template = template();
    assert!(
        template.bucket.event_bridge,
        "the bucket must send its events to EventBridge"
    );
    // Finalising decodes images: it needs more than the default memory, and the HTTP route
    // that does the same work must fit API Gateway's 30 s.
    assert!(function["MemorySize"].as_u64().unwrap() >= 1024);
    let complete = &doc["Resources"]["CompleteUploadFunction"]["Properties"];
    assert!(complete["MemorySize"].as_u64().unwrap() >= 1024);
    assert!(complete["Timeout"].as_u64().unwrap() < 30);
    // Browsers may send the presigned PUT from another origin: the local engine answers
    // preflights from this rule, as S3 does.
    let cors = template.bucket.cors.as_ref().expect("the bucket has a CORS rule");
    assert!(cors.allow_methods.iter().any(|m| m == "PUT"), "{cors:?}");
    assert!(cors.allow_origins.iter().any(|o| o == "*"), "{cors:?}");
    // Nothing under uploads/ outlives a day; the lifecycle never touches stored files.
    assert_eq!(template.bucket.expiry.len(), 1);
    assert_eq!(template.bucket.expiry[0].prefix, keel::files::INCOMING_PREFIX);
}

#[test]
fn every_routed_function_has_routes_and_no_route_is_declared_twice() {
    let template = template();
    let keys: Vec<String> = template.routes.iter().map(|r| r.key()).collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "duplicate routes: {keys:?}");
    for function in &template.functions {
        let is_stream = function.binary.as_deref().is_some_and(is_stream);
        let routed = template.routes.iter().any(|r| r.function == function.logical_id);
        assert!(
            routed != is_stream,
            "{}: an HTTP function needs routes, a stream function none",
            function.logical_id
        );
    }
}

#[test]
fn the_cargo_lambda_watch_router_mirrors_the_template() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("router table");
    let mut in_router = BTreeSet::new();
    for (path, routes) in router {
        for route in routes.as_array().expect("route list") {
            in_router.insert((
                route["method"].as_str().unwrap().to_owned(),
                path.clone(),
                route["function"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let in_template: BTreeSet<(String, String, String)> = template()
        .routes
        .into_iter()
        .map(|r| (r.method, r.path, r.binary))
        .collect();
    assert_eq!(in_router, in_template);
}

#[test]
fn the_local_gateway_serves_exactly_the_template_routes() {
    let template = template();
    // Clients that are never called: building the gateway needs dependencies, not a network.
    let sdk = keel_local::engines::local_sdk_config();
    let tokens = keel::auth::TokenKeys::new(&[1u8; 32], keel::auth::DEFAULT_TOKEN_TTL).unwrap();
    let options = keel_tests::test_options(std::path::Path::new("/nonexistent"), false);
    let functions =
        keel_local::app::FunctionDeps::build(&template, &options, &sdk, None, None, &tokens).unwrap();
    let gateway = keel_local::gateway::Gateway::new(&template, |id| functions.of(id))
        .expect("every route has an endpoint");
    let served: BTreeSet<String> = gateway.routes().map(|r| r.key()).collect();
    let declared: BTreeSet<String> = template.routes.iter().map(|r| r.key()).collect();
    assert_eq!(served, declared);
}

#[test]
fn the_api_stage_is_throttled_by_default_route_settings() {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let settings = &doc["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    // A literal, or a parameter (an operator's setting per environment) with a default.
    let value = |setting: &serde_yaml_ng::Value| match setting {
        serde_yaml_ng::Value::Tagged(tagged) if tagged.tag == "Ref" => {
            let parameter = tagged.value.as_str().expect("a parameter name");
            doc["Parameters"][parameter]["Default"].clone()
        }
        other => other.clone(),
    };
    let rate = value(&settings["ThrottlingRateLimit"])
        .as_f64()
        .expect("a stage rate limit");
    let burst = value(&settings["ThrottlingBurstLimit"])
        .as_u64()
        .expect("a stage burst limit");
    assert!(rate > 0.0 && burst > 0, "{rate} {burst}");
}

/// `METHOD /path` of every operation in the OpenAPI document.
fn documented_routes() -> (BTreeSet<String>, serde_json::Value) {
    let json = keel_functions::openapi::document()
        .to_json()
        .expect("the document serialises");
    let document: serde_json::Value = serde_json::from_str(&json).expect("the document is JSON");
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            routes.insert(format!("{} {path}", method.to_ascii_uppercase()));
        }
    }
    (routes, document)
}

#[test]
fn the_openapi_document_describes_exactly_the_template_routes() {
    let template: BTreeSet<String> = template()
        .routes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let (documented, document) = documented_routes();
    assert_eq!(document["openapi"], "3.1.0");
    let undocumented: Vec<_> = template.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&template).collect();
    assert!(
        undocumented.is_empty(),
        "template routes missing from the document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "document operations the template does not route: {unrouted:?}"
    );
}

#[test]
fn every_documented_operation_declares_the_errors_it_can_answer() {
    let (_, document) = documented_routes();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let route = format!("{} {path}", method.to_ascii_uppercase());
            let responses = operation["responses"].as_object().unwrap();
            let declares = |status: &str| responses.contains_key(status);
            assert!(declares("503"), "{route}: no 503");
            // Optional-auth reads included: an invalid token is a 401 there too.
            if operation.get("security").is_some() {
                assert!(declares("401"), "{route}: reads a token but declares no 401");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(declares(status), "{route}: reads a body but declares no {status}");
                }
            }
            if path.contains('{') {
                assert!(declares("404"), "{route}: names a resource but declares no 404");
            }
            assert!(operation["operationId"].is_string(), "{route}: no operationId");
        }
    }
}

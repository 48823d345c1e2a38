//! The OpenAPI document at `GET /api/v1/openapi.json` against what the server does, over real
//! HTTP on a SQLite database: it is OpenAPI 3 with the bearer scheme; every route the router
//! serves is documented and every documented operation is served (the routes are read from the
//! crate's source, every `.route(...)` call, so that a route added without documentation fails
//! here); every status the handlers answer to a missing token and to bad input is documented;
//! and the bodies of real answers have exactly the documented schema's properties.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use api::BEARER_SCHEME;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod common;

use common::{Server, config};

/// A route: upper-case method and path template, e.g. `("GET", "/api/v1/bots/{id}")`.
type Route = (String, String);

/// The routes the crate's router serves, read from every `.route("PATH", get(..).post(..))` call
/// in `src/`. Panics on routing this reader does not understand (`nest`, `route_service`, a
/// method router other than `get`/`post`/`put`/`patch`/`delete`), so that it cannot miss a route
/// silently.
fn served_routes() -> BTreeSet<Route> {
    let mut files = Vec::new();
    let mut directories = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                directories.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for unsupported in [".nest(", ".nest_service(", ".route_service("] {
            assert!(
                !text.contains(unsupported),
                "{}: this test cannot read `{unsupported}`: teach served_routes",
                file.display()
            );
        }
        for (at, _) in text.match_indices(".route(") {
            let call = &text[at + ".route(".len()..];
            let (path, methods) = route_call(call).unwrap_or_else(|| {
                panic!("{}: cannot read the route at byte {at}", file.display())
            });
            assert!(
                !methods.is_empty(),
                "{}: {path} has no method",
                file.display()
            );
            for method in methods {
                assert!(
                    routes.insert((method.clone(), path.clone())),
                    "{method} {path} is routed twice"
                );
            }
        }
    }
    routes
}

/// The path and methods of the arguments of one `.route(` call, `call` starting after the `(`.
fn route_call(call: &str) -> Option<(String, Vec<String>)> {
    let call = call.trim_start().strip_prefix('"')?;
    let end = call.find('"')?;
    let path = call[..end].to_owned();
    let rest = call[end + 1..].trim_start().strip_prefix(',')?;
    let mut methods = Vec::new();
    let (mut depth, mut word) = (0usize, String::new());
    for c in rest.chars() {
        match c {
            '(' => {
                if depth == 0 {
                    let method = match word.as_str() {
                        "get" | "post" | "put" | "patch" | "delete" => word.to_ascii_uppercase(),
                        other => panic!("{path}: unknown method router {other:?}"),
                    };
                    methods.push(method);
                }
                depth += 1;
                word.clear();
            }
            ')' if depth == 0 => return Some((path, methods)),
            ')' => depth -= 1,
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            _ => word.clear(),
        }
    }
    None
}

impl Server {
    /// The served document.
    async fn document(&self) -> Value {
        let answer = self
            .send(Method::GET, "/api/v1/openapi.json", None, None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        answer.body
    }
}

/// The documented operations: `(method, path)` to the operation object.
fn operations(document: &Value) -> BTreeMap<Route, Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                operations.insert(
                    (method.to_ascii_uppercase(), path.clone()),
                    operation.clone(),
                );
            }
        }
    }
    operations
}

/// The statuses `operation` documents, e.g. `"200"`, `"401"`.
fn documented_statuses(operation: &Value) -> BTreeSet<String> {
    operation["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Whether `operation` requires the bearer scheme.
fn needs_login(operation: &Value) -> bool {
    operation["security"].as_array().is_some_and(|all| {
        all.iter().any(|requirement| {
            requirement.get(BEARER_SCHEME).is_some() || requirement.get("session_cookie").is_some()
        })
    })
}

/// `schema` with a `$ref` to `#/components/schemas/NAME` followed.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let target = &document["components"]["schemas"][name];
            assert!(!target.is_null(), "{reference} is not defined");
            resolve(document, target)
        }
        None => schema,
    }
}

/// The property names of the object `schema` describes, `allOf` parts merged.
fn properties(document: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(document, schema);
    let mut names: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(properties(document, part));
    }
    names
}

/// The JSON schema of `operation`'s answer with `status`.
fn response_schema(operation: &Value, status: StatusCode) -> &Value {
    let schema = &operation["responses"][status.as_str()]["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "no JSON schema for {status}: {operation}"
    );
    schema
}

/// Asserts that `body`'s keys are exactly the properties of `schema`, and that it has every
/// required one.
#[track_caller]
fn assert_keys_match(document: &Value, schema: &Value, body: &Value, what: &str) {
    let keys: BTreeSet<String> = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {body}"))
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, properties(document, schema), "{what}: {body}");
    let resolved = resolve(document, schema);
    for required in resolved["required"].as_array().into_iter().flatten() {
        assert!(
            keys.contains(required.as_str().unwrap()),
            "{what}: required {required} missing from {body}"
        );
    }
}

/// `path` with its `{id}` made a real-looking id.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
}

#[tokio::test]
async fn the_document_is_openapi_3_with_the_bearer_scheme() {
    let server = Server::start_sqlite(config()).await;
    let document = server.document().await;
    let version = document["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(document["info"]["title"], "spotbot API");
    assert!(!document["info"]["version"].as_str().unwrap().is_empty());
    let scheme = &document["components"]["securitySchemes"][BEARER_SCHEME];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&json!("http"), &json!("bearer")),
        "{scheme}"
    );
    // Every operation has an answer, each with a description, and a tag.
    for ((method, path), operation) in operations(&document) {
        let statuses = documented_statuses(&operation);
        assert!(!statuses.is_empty(), "{method} {path}");
        for status in &statuses {
            assert!(
                operation["responses"][status]["description"].is_string(),
                "{method} {path} {status}"
            );
        }
        assert!(
            operation["tags"]
                .as_array()
                .is_some_and(|tags| !tags.is_empty())
        );
    }
    // The error body, with its three keys, all required (field is null when not about a field).
    let error = &document["components"]["schemas"]["ErrorBody"];
    assert_eq!(
        properties(&document, error),
        BTreeSet::from(["code".into(), "field".into(), "message".into()])
    );
    assert_eq!(error["required"], json!(["code", "message", "field"]));
    server.stop().await;
}

#[tokio::test]
async fn every_served_route_is_documented_and_every_documented_one_is_served() {
    let served = served_routes();
    // A sanity check of the reader of the source: the routes the crate's docs promise.
    for route in [
        ("GET", "/health"),
        ("POST", "/api/v1/auth/login"),
        ("PATCH", "/api/v1/bots/{id}"),
        ("GET", "/api/v1/trades.csv"),
        ("GET", "/api/v1/openapi.json"),
    ] {
        assert!(
            served.contains(&(route.0.to_owned(), route.1.to_owned())),
            "{route:?} not found in {served:?}"
        );
    }
    let server = Server::start_sqlite(config()).await;
    let document = server.document().await;
    let documented: BTreeSet<Route> = operations(&document).into_keys().collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented but not routed: {unserved:?}"
    );
    // And the router really serves each: no answer is the fallback's 404 or 405.
    for (method, path) in &served {
        let answer = server
            .send(method.parse().unwrap(), &concrete(path), None, None)
            .await;
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_ne!(answer.body["message"], "no such route", "{method} {path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn auth_failures_and_bad_input_answer_only_documented_statuses() {
    let server = Server::start_sqlite(config()).await;
    let document = server.document().await;
    let error_schema = json!({"$ref": "#/components/schemas/ErrorBody"});
    let (_, _, token) = server.sign_up("alice").await;
    let mut checked_401 = 0;
    let mut checked_422 = 0;
    // The logouts last: they revoke the token.
    let mut operations: Vec<_> = operations(&document).into_iter().collect();
    operations.sort_by_key(|((method, path), _)| {
        path.ends_with("/logout") || (path == "/api/v1/auth/session" && method == "DELETE")
    });
    for ((method, path), operation) in operations {
        let statuses = documented_statuses(&operation);
        let method: Method = method.parse().unwrap();
        let path = concrete(&path);
        let has_body = !operation["requestBody"].is_null();
        let mut answers = Vec::new();

        // Without a token: 401 exactly when the operation requires a login (bearer or cookie).
        let anonymous = server.send(method.clone(), &path, None, None).await;
        assert_eq!(
            anonymous.status == StatusCode::UNAUTHORIZED,
            needs_login(&operation),
            "{method} {path}: {anonymous:?}"
        );
        if anonymous.status == StatusCode::UNAUTHORIZED {
            checked_401 += 1;
        }
        answers.push(("no token", anonymous));
        let token = needs_login(&operation).then_some(token.as_str());

        // An unknown query parameter.
        answers.push((
            "unknown parameter",
            server
                .send(
                    method.clone(),
                    &format!("{path}?no_such_parameter=1"),
                    None,
                    token,
                )
                .await,
        ));
        if has_body {
            for (what, content_type, body) in [
                (
                    "unknown field",
                    "application/json",
                    r#"{"no_such_field": 1}"#,
                ),
                ("malformed JSON", "application/json", "{"),
                ("wrong type", "application/json", "[1, 2]"),
                ("not JSON", "text/plain", "hello"),
                (
                    "too large",
                    "application/json",
                    &format!("\"{}\"", "x".repeat(api::BODY_LIMIT_BYTES)),
                ),
            ] {
                let answer = server
                    .send_raw(
                        method.clone(),
                        &path,
                        Some(content_type),
                        body.to_owned(),
                        token,
                    )
                    .await;
                if what == "unknown field" {
                    assert_eq!(
                        answer.status,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{method} {path}: {answer:?}"
                    );
                    checked_422 += 1;
                }
                answers.push((what, answer));
            }
        }
        for (what, answer) in answers {
            assert!(
                statuses.contains(answer.status.as_str()),
                "{method} {path} ({what}) answered {} but documents {statuses:?}: {:?}",
                answer.status,
                answer.body
            );
            if answer.status.is_client_error() {
                let schema = response_schema(&operation, answer.status);
                assert_eq!(schema, &error_schema, "{method} {path} {}", answer.status);
                assert_keys_match(
                    &document,
                    schema,
                    &answer.body,
                    &format!("{method} {path} ({what})"),
                );
            }
        }
    }
    // Every route but health, readiness, the document, register and the two logins needs a
    // token (or the session cookie); every body route refuses unknown fields.
    assert_eq!(checked_401, 41);
    assert_eq!(checked_422, 12);
    server.stop().await;
}

#[tokio::test]
async fn real_answers_have_the_documented_properties() {
    let server = Server::start_sqlite(config()).await;
    let document = server.document().await;
    let operations = operations(&document);
    let operation = |method: &str, path: &str| {
        operations
            .get(&(method.to_owned(), path.to_owned()))
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    };
    let (registered, login, token) = server.sign_up("alice").await;
    assert_keys_match(
        &document,
        response_schema(
            operation("POST", "/api/v1/auth/register"),
            StatusCode::CREATED,
        ),
        &registered.body,
        "register",
    );
    assert_keys_match(
        &document,
        response_schema(operation("POST", "/api/v1/auth/login"), StatusCode::OK),
        &login.body,
        "login",
    );

    let me = server
        .send(Method::GET, "/api/v1/me", None, Some(&token))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_keys_match(
        &document,
        response_schema(operation("GET", "/api/v1/me"), StatusCode::OK),
        &me.body,
        "me",
    );

    let created = server
        .send(
            Method::POST,
            "/api/v1/bots",
            Some(
                json!({"name": "hourly", "symbol": "BTCUSDT", "interval": "1h",
                "strategy": "ema_rsi_cross", "quote_per_buy": "25", "mode": "paper"}),
            ),
            Some(&token),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let bot_schema = response_schema(operation("POST", "/api/v1/bots"), StatusCode::CREATED);
    assert_keys_match(&document, bot_schema, &created.body, "bots create");
    let position_schema = &resolve(&document, bot_schema)["properties"]["position"];
    assert_keys_match(
        &document,
        position_schema,
        &created.body["position"],
        "bot position",
    );

    let trades = server
        .send(Method::GET, "/api/v1/trades", None, Some(&token))
        .await;
    assert_eq!(trades.status, StatusCode::OK, "{trades:?}");
    assert_keys_match(
        &document,
        response_schema(operation("GET", "/api/v1/trades"), StatusCode::OK),
        &trades.body,
        "trades list",
    );
    server.stop().await;
}

/// Every rule on one field or parameter that the server enforces with a 422 is stated in the
/// document (a pattern, a minimum), so that a client, or a fuzzer such as schemathesis, never
/// sends data the document calls valid only to have it refused. Rules between fields, and the
/// exchange's listing a bot is checked against, cannot be stated and are left to the
/// descriptions.
#[tokio::test]
async fn the_fields_rules_are_in_the_document() {
    let server = Server::start_sqlite(config()).await;
    let document = server.document().await;
    let schemas = &document["components"]["schemas"];
    for (schema, property) in [
        ("RegisterRequest", "email"),
        ("RegisterRequest", "username"),
        ("PutCredentialsRequest", "api_key"),
        ("PutCredentialsRequest", "api_secret"),
        ("CreateBotRequest", "name"),
        ("CreateBotRequest", "symbol"),
        ("CreateBotRequest", "interval"),
        ("CreateBotRequest", "strategy"),
        ("CreateBotRequest", "mode"),
        ("PatchBotRequest", "name"),
        ("PatchBotRequest", "symbol"),
        ("PatchBotRequest", "interval"),
        ("PatchBotRequest", "strategy"),
        ("PatchBotRequest", "mode"),
    ] {
        let field = &schemas[schema]["properties"][property];
        assert!(
            field["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with('^')),
            "{schema}.{property} has no anchored pattern: {field}"
        );
    }
    // The lists of values the server knows, exactly.
    let one_of = |values: Vec<&str>| format!("^({})$", values.join("|"));
    let intervals = one_of(market::Interval::ALL.iter().map(|i| i.as_str()).collect());
    let modes = one_of(store::Mode::ALL.iter().map(|m| m.as_str()).collect());
    for schema in ["CreateBotRequest", "PatchBotRequest"] {
        let properties = &schemas[schema]["properties"];
        assert_eq!(properties["interval"]["pattern"], intervals, "{schema}");
        assert_eq!(properties["mode"]["pattern"], modes, "{schema}");
        assert_eq!(
            properties["strategy"]["pattern"],
            format!("^{}$", strategy::spec::EMA_RSI_CROSS),
            "{schema}"
        );
    }

    let operations = operations(&document);
    let parameter = |path: &str, name: &str| {
        operations[&("GET".to_owned(), path.to_owned())]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == name)
            .unwrap_or_else(|| panic!("{path} does not document {name}"))["schema"]
            .clone()
    };
    for path in ["/api/v1/trades", "/api/v1/trades.csv"] {
        assert_eq!(parameter(path, "bot")["minimum"], 1, "{path}");
        assert_eq!(parameter(path, "from_ms")["minimum"], 0, "{path}");
        assert_eq!(parameter(path, "to_ms")["minimum"], 0, "{path}");
        assert_eq!(parameter(path, "side")["pattern"], "^(BUY|SELL)$", "{path}");
        assert_eq!(
            parameter(path, "symbol")["pattern"],
            "^[A-Z0-9]{1,20}$",
            "{path}"
        );
    }
    assert_eq!(
        parameter("/api/v1/trades", "cursor")["pattern"],
        "^[1-9][0-9]{0,17}$"
    );
    assert_eq!(parameter("/api/v1/performance", "bot")["minimum"], 1);

    // Both sides of the credentials' pattern: any non-space character is a key, and Unicode
    // spaces (here a no-break space) are spaces.
    let (_, _, token) = server.sign_up("alice").await;
    let key = |api_key: &str| json!({"api_key": api_key, "api_secret": "s3cr3t"});
    let put = server
        .send(
            Method::PUT,
            "/api/v1/credentials/testnet",
            Some(key("ключ-1")),
            Some(&token),
        )
        .await;
    // The key passed the server's checks when the exchange is what refused it.
    common::assert_error(
        &put,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("api_key"),
    );
    assert!(put.text.contains("exchange refused"), "{put:?}");
    let put = server
        .send(
            Method::PUT,
            "/api/v1/credentials/testnet",
            Some(key("a\u{a0}b")),
            Some(&token),
        )
        .await;
    common::assert_error(
        &put,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_value",
        Some("api_key"),
    );
    assert!(put.text.contains("spaces"), "{put:?}");
    server.stop().await;
}

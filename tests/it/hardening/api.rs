//! Hardening: the API description is part of the contract. `/openapi.json` is valid OpenAPI 3,
//! every operation lists its error statuses with the `ApiError` body, and the router and the
//! description name the same routes. (schemathesis holds the document to the server in CI:
//! `scripts/check-openapi.sh`.)

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Paths the router serves that the description leaves out, and why.
const UNDESCRIBED: [(&str, &str); 5] = [
    (
        "/metrics",
        "Prometheus text format, placed by network; see README Metrics",
    ),
    ("/openapi.json", "the description itself"),
    (
        "/accessToken",
        "quickstart endpoints, served only with --quickstart",
    ),
    (
        "/placeCall",
        "quickstart endpoints, served only with --quickstart",
    ),
    (
        "/console/",
        "the operator console's HTML pages (this path redirects to /console); see README Console",
    ),
];

/// The routers' sources: the public router, and the routes of Twilio's shapes it merges.
const ROUTER_SOURCES: [&str; 2] = ["src/http/mod.rs", "src/http/twilio/mod.rs"];

/// A route with its parameters' names left out (`{}`), so the router's `{sid}` and the
/// description's `{Sid}` compare equal; a described `{Sid}.json` segment is one parameter to
/// the router, which matches whole segments only.
fn shape(route: &str) -> String {
    route
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && (segment.ends_with('}') || segment.ends_with("}.json")) {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `"method path"` of every route the routers register, read from their sources: each
/// `.route("PATH", get(…).post(…))`.
fn router_routes() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for file in ROUTER_SOURCES {
        let source =
            std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).expect(file);
        routes.extend(source_routes(&source));
    }
    routes
}

fn source_routes(source: &str) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).expect("a route path literal");
        // The handler expression ends at the `)` that closes `.route(`.
        let mut depth = 1;
        let end = chunk
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .expect("a closed .route(");
        let handlers = &chunk[..end];
        for method in METHODS {
            let calls = [format!("{method}("), format!(".{method}(")];
            let named = handlers.match_indices(&calls[0]).any(|(i, _)| {
                i == 0 || !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if named || handlers.contains(&calls[1]) {
                routes.insert(shape(&format!("{method} {path}")));
            }
        }
    }
    routes
}

fn documented_routes(doc: &Value) -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert(format!("{method} {path}"));
            }
        }
    }
    routes
}

/// Every `$ref` in `value` names a schema of the document.
fn check_refs(doc: &Value, value: &Value, problems: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let name = target.strip_prefix("#/components/schemas/");
                if name.is_none_or(|n| doc["components"]["schemas"].get(n).is_none()) {
                    problems.push(format!("dangling $ref {target}"));
                }
            }
            map.values().for_each(|v| check_refs(doc, v, problems));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v, problems)),
        _ => {}
    }
}

/// What each operation must list: its error statuses with the ApiError body, the generic ones
/// its shape implies, and only security schemes the document defines.
fn check_operation(doc: &Value, label: &str, op: &Value, problems: &mut Vec<String>) {
    let responses = op["responses"].as_object().expect("responses");
    if !responses.keys().any(|s| s.starts_with('2')) {
        problems.push(format!("{label}: no success response"));
    }
    for (status, response) in responses {
        let schema = &response["content"]["application/json"]["schema"]["$ref"];
        if status.starts_with(['4', '5']) && schema != "#/components/schemas/ApiError" {
            problems.push(format!("{label}: {status} without the ApiError body"));
        }
        if response["description"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{label}: {status} without a description"));
        }
    }
    let security = op["security"].as_array().cloned().unwrap_or_default();
    let mut expected = Vec::new();
    if !security.is_empty() {
        expected.extend(["401", "429"]);
    }
    if op.get("requestBody").is_some() {
        expected.extend(["400", "413", "415"]);
        let content = op["requestBody"]["content"].as_object().expect("content");
        for (media, body) in content {
            if media.is_empty() || !body["schema"].is_object() {
                problems.push(format!("{label}: request body {media:?} without a schema"));
            }
        }
    }
    if label != "get /healthz" {
        expected.push("503");
    }
    for status in expected {
        if !responses.contains_key(status) {
            problems.push(format!("{label}: {status} not listed"));
        }
    }
    for requirement in &security {
        for scheme in requirement.as_object().expect("requirement").keys() {
            if doc["components"]["securitySchemes"].get(scheme).is_none() {
                problems.push(format!("{label}: undefined security scheme {scheme}"));
            }
        }
    }
}

#[tokio::test]
async fn the_description_is_complete_and_matches_the_router() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let mut problems = Vec::new();
    check_refs(&doc, &doc, &mut problems);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                check_operation(&doc, &format!("{method} {path}"), op, &mut problems);
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");

    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                assert!(
                    ids.insert(id.clone()),
                    "{method} {path}: operationId {id} repeats"
                );
            }
        }
    }

    let served: BTreeSet<String> = router_routes()
        .into_iter()
        .filter(|route| {
            !UNDESCRIBED
                .iter()
                .any(|(p, _)| route.ends_with(&format!(" {p}")))
        })
        .collect();
    let documented: BTreeSet<String> = documented_routes(&doc).iter().map(|r| shape(r)).collect();
    assert!(
        served.len() >= 20,
        "the router source was not read: {served:?}"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routes the description lacks"
    );
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "described operations the router lacks"
    );

    // And the running router answers each described operation (no fallback 404 or 405).
    for route in &documented_routes(&doc) {
        let (method, path) = route.split_once(' ').unwrap();
        let url = app.url(&path.replace("{sid}", "XX0123"));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = app.client.request(method, url).send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(
            status != 405 && body["message"] != "no such endpoint",
            "{route}: {status} {body}"
        );
    }
}

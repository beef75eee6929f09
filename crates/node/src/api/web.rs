//! The web dashboards (`crates/webui`'s embedded bundle): the page at `/` and `/app/`, its files at
//! `/app/{file}`. Public like the API's status: the pages hold no data; every figure they show comes
//! from the API, signed by the member who signed in, under the same access rules.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The web dashboards' page (HTML; it loads `/app/app.js`, `/app/app.css`, `/app/verifier.wasm`).
#[utoipa::path(get, path = "/", responses((status = 200, description = "the dashboards' page", content_type = "text/html", body = String)))]
pub async fn root(headers: HeaderMap) -> Response {
    serve("", &headers)
}

/// The web dashboards' page, as at `/`.
#[utoipa::path(get, path = "/app/", responses((status = 200, description = "the dashboards' page", content_type = "text/html", body = String)))]
pub async fn page(headers: HeaderMap) -> Response {
    serve("", &headers)
}

/// One file of the dashboards' bundle (`index.html`, `app.js`, `app.css`, `verifier.wasm`,
/// `favicon.svg`); 404 for any other name. ETag and `Cache-Control: no-cache` (revalidated).
#[utoipa::path(get, path = "/app/{file}", params(("file" = String, Path, description = "File name in the bundle")), responses((status = 200, description = "the file"), (status = 304, description = "not modified (If-None-Match)"), (status = 404, body = crate::api::ApiError)))]
pub async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = trustmeter_webui::asset(name) else {
        return crate::api::ApiError::not_found(format!(
            "the web application has no file {name:?}; open /app/ (its files: {})",
            trustmeter_webui::ASSETS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
        ))
        .into_response();
    };
    // Gzip when the client takes it (the verifier: 2.3 MB → about 0.6 MB on the wire).
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(trustmeter_webui::accepts_gzip)
        .then(|| trustmeter_webui::gzipped(asset))
        .flatten();
    let (bytes, etag) = match gzip {
        Some(gz) => (gz.bytes, gz.etag),
        None => (asset.bytes, trustmeter_webui::etag(asset)),
    };
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], bytes).into_response()
    };
    let h = response.headers_mut();
    if gzip.is_some() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // The answer depends on Accept-Encoding: caches must key on it.
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::ETAG, HeaderValue::from_static(etag));
    // Revalidated on every load (a new binary serves a new bundle at the same names).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    for (k, v) in trustmeter_webui::SECURITY_HEADERS {
        h.insert(*k, HeaderValue::from_static(v));
    }
    response
}

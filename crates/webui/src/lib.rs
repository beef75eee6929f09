//! # trustmeter-webui
//!
//! The web dashboards (监管、企业、公开、大屏) as bytes the node serves: the bundle `web/build.mjs`
//! writes into `web/dist` (one HTML page, one script, one style sheet, the WebAssembly verifier),
//! embedded at compile time so a node needs no file, CDN or network to serve them. The bundle is
//! committed; `cd web && npm ci && npm run build` rebuilds it from `web/src` byte for byte (CI
//! checks that the committed bundle is what its sources build).
//!
//! Nothing here interprets a request beyond picking a file by name: [`asset`] answers the few
//! names the bundle has and nothing else (no paths, no directory walk), with its content type, an
//! ETag (its SHA-256) and the security headers every page carries ([`SECURITY_HEADERS`]).

#![deny(missing_docs)]

use std::sync::OnceLock;

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its name under `/app/`.
    pub name: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// The bundle's files, as `web/build.mjs` names them.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        bytes: include_bytes!("../../../web/dist/index.html"),
        content_type: "text/html; charset=utf-8",
    },
    Asset {
        name: "app.js",
        bytes: include_bytes!("../../../web/dist/app.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "app.css",
        bytes: include_bytes!("../../../web/dist/app.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "verifier.wasm",
        bytes: include_bytes!("../../../web/dist/verifier.wasm"),
        content_type: "application/wasm",
    },
    Asset {
        name: "favicon.svg",
        bytes: include_bytes!("../../../web/dist/favicon.svg"),
        content_type: "image/svg+xml",
    },
];

/// Headers every answer of the web application carries: scripts only from the node itself (no
/// inline script, no CDN; `wasm-unsafe-eval` lets the verifier be compiled, nothing else), data
/// fetched only from the node, never framed by another site, no MIME sniffing, no referrer sent
/// elsewhere.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// The file named `name` (as under `/app/`; the empty name is the page itself), if the bundle has
/// one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    let name = if name.is_empty() { "index.html" } else { name };
    ASSETS.iter().find(|a| a.name == name)
}

/// The strong ETag of an asset: its SHA-256, quoted. Computed once per file.
pub fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS.iter().map(|a| format!("\"{}\"", hex::encode(trustmeter_crypto::sha256(a.bytes).0))).collect()
    });
    let i = ASSETS.iter().position(|a| a.name == asset.name).expect("an asset of ASSETS");
    &tags[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_by_its_name_and_nothing_else_is() {
        for a in ASSETS {
            assert!(!a.bytes.is_empty(), "{} is empty: run `npm run build` in web/", a.name);
            assert_eq!(asset(a.name).map(|x| x.name), Some(a.name));
        }
        assert_eq!(asset("").map(|a| a.name), Some("index.html"));
        for name in ["../Cargo.toml", "app.js/", "APP.JS", "dist/app.js", "%2e%2e/x", "index.htm"] {
            assert!(asset(name).is_none(), "{name}");
        }
    }

    #[test]
    fn the_page_loads_only_the_bundle_and_the_bundle_is_what_the_etag_says() {
        let html = std::str::from_utf8(asset("index.html").unwrap().bytes).unwrap();
        // No script or style from anywhere but the node (the CSP would refuse it anyway).
        assert!(!html.contains("http://") && !html.contains("https://"), "the page names another origin");
        assert!(html.contains("/app/app.js") && html.contains("/app/app.css"));
        // The verifier is a WebAssembly module.
        assert_eq!(&asset("verifier.wasm").unwrap().bytes[..4], b"\0asm");
        let tag = etag(asset("app.js").unwrap());
        assert_eq!(tag.len(), 66);
        assert_eq!(tag, &format!("\"{}\"", hex::encode(trustmeter_crypto::sha256(asset("app.js").unwrap().bytes).0)));
    }
}

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
    &tags[index(asset)]
}

/// An asset as the node sends it to a client that accepts gzip: the gzip member of its bytes
/// (RFC 1952, best compression) and that representation's own strong ETag (the plain one with
/// `-gzip` before its closing quote: a cache must not take one encoding for the other).
#[derive(Clone, Copy, Debug)]
pub struct Gzipped {
    /// The compressed bytes.
    pub bytes: &'static [u8],
    /// Its ETag.
    pub etag: &'static str,
}

/// The gzip representation of `asset`, if it is smaller than the plain one by at least a tenth
/// (the verifier: 2.3 MB → about 0.57 MB; the script about a third). Compressed once per file, on
/// first use (about 0.3 s for the verifier, release build), then kept: the output is a function
/// of the bytes alone (no name, no time in the header), the same on every node.
pub fn gzipped(asset: &Asset) -> Option<Gzipped> {
    /// Per asset, once compressed: its gzip bytes and ETag, or nothing if not worth it.
    type Cell = OnceLock<Option<(Vec<u8>, String)>>;
    static GZ: OnceLock<Vec<Cell>> = OnceLock::new();
    let cells = GZ.get_or_init(|| ASSETS.iter().map(|_| OnceLock::new()).collect());
    let i = index(asset);
    let cell = cells[i].get_or_init(|| {
        let bytes = gzip(ASSETS[i].bytes);
        (bytes.len() * 10 <= ASSETS[i].bytes.len() * 9).then(|| {
            let plain = etag(&ASSETS[i]);
            let tag = format!("{}-gzip\"", &plain[..plain.len() - 1]);
            (bytes, tag)
        })
    });
    cell.as_ref().map(|(bytes, etag)| Gzipped { bytes, etag })
}

/// Whether an `Accept-Encoding` header value admits gzip (RFC 9110 §12.5.3): a `gzip` (or
/// `x-gzip`) or `*` member whose quality is not zero. Any malformed member counts as not
/// admitting; `identity` is always acceptable, so answering plain is never wrong.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut star = None;
    for member in accept_encoding.split(',').take(32) {
        let mut parts = member.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let mut q_zero = false;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else { continue };
            if k.trim().eq_ignore_ascii_case("q") {
                let v = v.trim();
                q_zero = v.parse::<f32>().map_or(true, |q| q.is_nan() || q <= 0.0);
            }
        }
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return !q_zero;
        }
        if coding == "*" {
            star = Some(!q_zero);
        }
    }
    star.unwrap_or(false)
}

/// Gzip of `bytes` at the best level, with a zero modification time and no name.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc =
        flate2::GzBuilder::new().mtime(0).write(Vec::with_capacity(bytes.len() / 3), flate2::Compression::best());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// The position of `asset` in [`ASSETS`] (assets are only ever taken from there).
fn index(asset: &Asset) -> usize {
    ASSETS.iter().position(|a| a.name == asset.name).expect("an asset of ASSETS")
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
    fn gzip_representations_decompress_to_the_asset_and_have_their_own_etag() {
        use std::io::Read as _;
        for a in ASSETS {
            let Some(gz) = gzipped(a) else {
                // Only what does not shrink by a tenth stays plain (the small favicon may).
                assert!(a.bytes.len() < 4096, "{} is not compressed", a.name);
                continue;
            };
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(gz.bytes).read_to_end(&mut out).unwrap();
            assert_eq!(out, a.bytes, "{}", a.name);
            assert_eq!(&gz.bytes[4..8], &[0, 0, 0, 0], "no modification time");
            assert_ne!(gz.etag, etag(a));
            assert!(gz.etag.starts_with(&etag(a)[..65]) && gz.etag.ends_with("-gzip\""));
            // Kept: the same bytes on a second call.
            assert!(std::ptr::eq(gz.bytes, gzipped(a).unwrap().bytes));
        }
        let wasm = asset("verifier.wasm").unwrap();
        assert!(gzipped(wasm).unwrap().bytes.len() * 3 < wasm.bytes.len(), "the verifier compresses to under a third");
    }

    #[test]
    fn accept_encoding_is_read_as_rfc_9110_says() {
        for yes in ["gzip", "gzip, deflate, br, zstd", "br;q=1.0, GZIP;q=0.5", "*", "deflate, *;q=0.1", " x-gzip "] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in
            ["", "identity", "br", "gzip;q=0", "gzip;q=0.000", "gzip;q=abc", "*;q=0", "gzip;q=0, *", "gzipx", "deflate"]
        {
            assert!(!accepts_gzip(no), "{no}");
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

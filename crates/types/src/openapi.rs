//! OpenAPI schemas (feature `openapi`) of the types whose JSON is text parsed by hand: hashes,
//! identifiers, credit codes, keys and signatures. Every other type derives its schema from its
//! serde attributes (`#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]`).

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

macro_rules! text_schema {
    ($ty:ty, $pattern:expr, $description:expr, $example:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern($pattern)
                    .description(Some($description))
                    .examples([serde_json::Value::String($example.into())])
                    .into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

text_schema!(
    crate::Hash32,
    Some("^[0-9a-f]{64}$"),
    "A 32-byte hash (SHA-256 or SM3, the chain's `params.hash`), lowercase hex.",
    "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592"
);
text_schema!(
    crate::ChainId,
    Some("^[A-Za-z0-9._-]{1,64}$"),
    "A chain's id (e.g. `hunan-1`); every transaction signature covers it.",
    "hunan-1"
);
text_schema!(
    crate::DeviceId,
    Some("^[A-Za-z0-9._-]{1,64}$"),
    "A device id: `<owner's unified social credit code>-<local id>`.",
    "91430100MA4L0001XA-EM0001"
);
text_schema!(
    crate::UnifiedSocialCreditCode,
    Some("^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"),
    "An organisation's unified social credit code (统一社会信用代码, GB 32100-2015), with its check character.",
    "91430100MA4L0001XA"
);
text_schema!(
    crate::PublicKey,
    Some("^(ed25519|sm2):[0-9a-f]+$"),
    "A public key tagged with its scheme: `ed25519:<32 bytes hex>` or `sm2:<65 bytes hex, uncompressed SEC1>`.",
    "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
);
text_schema!(
    crate::Signature,
    Some("^(ed25519|sm2):[0-9a-f]+$"),
    "A signature tagged with its scheme: `ed25519:<64 bytes hex>` or `sm2:<r ‖ s, 64 bytes hex>`.",
    "ed25519:00"
);

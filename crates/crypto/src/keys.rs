//! Signing keys, signatures, single and batch verification.

use rand_core::CryptoRng;
use trustmeter_types::{KeyScheme, PublicKey, Reading, ReadingSigner, Signature, SignedReading, Transaction, TxBody};

/// Why a key or signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The public key bytes are not a valid key of the scheme.
    #[error("the {0} public key is not a valid curve point")]
    BadPublicKey(&'static str),
    /// The signature does not verify.
    #[error("the {0} signature does not verify for this key and message")]
    BadSignature(&'static str),
    /// Key and signature use different schemes.
    #[error("the key is {key} but the signature is {signature}")]
    SchemeMismatch {
        /// The key's scheme.
        key: &'static str,
        /// The signature's scheme.
        signature: &'static str,
    },
    /// The scheme is not available in this build.
    #[error("the {0} scheme is not supported by this build yet")]
    Unsupported(&'static str),
    /// The secret key bytes are malformed.
    #[error("the secret key is malformed: {0}")]
    BadSecretKey(String),
}

/// A private signing key.
#[derive(Clone)]
pub enum SigningKey {
    /// Ed25519.
    Ed25519(ed25519_zebra::SigningKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public_key())
    }
}

impl SigningKey {
    /// A fresh Ed25519 key.
    pub fn generate_ed25519<R: CryptoRng>(rng: &mut R) -> Self {
        SigningKey::Ed25519(ed25519_zebra::SigningKey::new(rng))
    }
    /// An Ed25519 key from its 32 secret bytes.
    pub fn ed25519_from_seed(seed: [u8; 32]) -> Self {
        SigningKey::Ed25519(ed25519_zebra::SigningKey::from(seed))
    }
    /// The scheme.
    pub fn scheme(&self) -> KeyScheme {
        match self {
            SigningKey::Ed25519(_) => KeyScheme::Ed25519,
        }
    }
    /// Secret bytes, for a keystore.
    pub fn secret_bytes(&self) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(k) => k.as_ref().to_vec(),
        }
    }
    /// Restores a key from its scheme and secret bytes.
    pub fn from_secret(scheme: KeyScheme, bytes: &[u8]) -> Result<Self, CryptoError> {
        match scheme {
            KeyScheme::Ed25519 => {
                let seed: [u8; 32] =
                    bytes.try_into().map_err(|_| CryptoError::BadSecretKey("Ed25519 secrets are 32 bytes".into()))?;
                Ok(Self::ed25519_from_seed(seed))
            }
            KeyScheme::Sm2 => Err(CryptoError::Unsupported("sm2")),
        }
    }
    /// The public key, with its scheme tag.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::Ed25519(k) => {
                let vk = ed25519_zebra::VerificationKeyBytes::from(k);
                let bytes: [u8; 32] = vk.into();
                PublicKey { scheme: KeyScheme::Ed25519, bytes: bytes.to_vec() }
            }
        }
    }
    /// Signs a message.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        match self {
            SigningKey::Ed25519(k) => {
                let sig: [u8; 64] = k.sign(msg).into();
                Signature { scheme: KeyScheme::Ed25519, bytes: sig.to_vec() }
            }
        }
    }
}

fn ed25519_parts(
    pk: &PublicKey,
    sig: &Signature,
) -> Result<(ed25519_zebra::VerificationKeyBytes, ed25519_zebra::Signature), CryptoError> {
    let pk: [u8; 32] = pk.bytes.as_slice().try_into().map_err(|_| CryptoError::BadPublicKey("ed25519"))?;
    let sig: [u8; 64] = sig.bytes.as_slice().try_into().map_err(|_| CryptoError::BadSignature("ed25519"))?;
    Ok((ed25519_zebra::VerificationKeyBytes::from(pk), ed25519_zebra::Signature::from(sig)))
}

/// Verifies one signature (ZIP-215 rules for Ed25519).
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), CryptoError> {
    if pk.scheme != sig.scheme {
        return Err(CryptoError::SchemeMismatch { key: pk.scheme.name(), signature: sig.scheme.name() });
    }
    match pk.scheme {
        KeyScheme::Ed25519 => {
            let (vkb, s) = ed25519_parts(pk, sig)?;
            let vk = ed25519_zebra::VerificationKey::try_from(vkb).map_err(|_| CryptoError::BadPublicKey("ed25519"))?;
            vk.verify(&s, msg).map_err(|_| CryptoError::BadSignature("ed25519"))
        }
        KeyScheme::Sm2 => Err(CryptoError::Unsupported("sm2")),
    }
}

/// Collects signatures and verifies them together. When the batch fails, each item is checked
/// alone so the caller learns exactly which ones are bad; under ZIP-215 the two answers agree.
#[derive(Default)]
pub struct BatchVerifier {
    ed25519: Vec<(usize, ed25519_zebra::batch::Item)>,
    failed_early: Vec<(usize, CryptoError)>,
    count: usize,
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Queues one signature; returns its position in the batch.
    pub fn queue(&mut self, pk: &PublicKey, msg: &[u8], sig: &Signature) -> usize {
        let id = self.count;
        self.count += 1;
        if pk.scheme != sig.scheme {
            self.failed_early
                .push((id, CryptoError::SchemeMismatch { key: pk.scheme.name(), signature: sig.scheme.name() }));
            return id;
        }
        match pk.scheme {
            KeyScheme::Ed25519 => match ed25519_parts(pk, sig) {
                Ok((vkb, s)) => self.ed25519.push((id, ed25519_zebra::batch::Item::from((vkb, s, msg)))),
                Err(e) => self.failed_early.push((id, e)),
            },
            KeyScheme::Sm2 => self.failed_early.push((id, CryptoError::Unsupported("sm2"))),
        }
        id
    }
    /// Number of queued signatures.
    pub fn len(&self) -> usize {
        self.count
    }
    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Verifies everything; returns one result per queued signature, in queue order.
    pub fn verify<R: CryptoRng>(self, rng: &mut R) -> Vec<Result<(), CryptoError>> {
        let mut out: Vec<Result<(), CryptoError>> = (0..self.count).map(|_| Ok(())).collect();
        for (id, e) in self.failed_early {
            out[id] = Err(e);
        }
        if self.ed25519.is_empty() {
            return out;
        }
        let mut batch = ed25519_zebra::batch::Verifier::new();
        for (_, item) in &self.ed25519 {
            batch.queue(item.clone());
        }
        if batch.verify(&mut *rng).is_err() {
            for (id, item) in self.ed25519 {
                if item.verify_single().is_err() {
                    out[id] = Err(CryptoError::BadSignature("ed25519"));
                }
            }
        }
        out
    }
}

/// Signs a reading with a meter's own key or with its gateway's key.
pub fn sign_reading(key: &SigningKey, reading: Reading, signer: ReadingSigner) -> SignedReading {
    let signature = key.sign(&reading.signing_payload());
    SignedReading { reading, signer, signature }
}

/// Signs a transaction body. The body's `sender` should be `key.public_key()`.
pub fn sign_tx(key: &SigningKey, body: TxBody) -> Transaction {
    let signature = key.sign(&body.signing_payload());
    Transaction { body, signature }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 §7.1, TEST 1 (empty message).
        let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap()
            .try_into()
            .unwrap();
        let k = SigningKey::ed25519_from_seed(seed);
        assert_eq!(
            hex::encode(&k.public_key().bytes),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = k.sign(b"");
        assert_eq!(
            hex::encode(&sig.bytes),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(verify(&k.public_key(), b"", &sig).is_ok());
        assert_eq!(verify(&k.public_key(), b"x", &sig), Err(CryptoError::BadSignature("ed25519")));
    }

    #[test]
    fn batch_finds_exactly_the_bad_signatures() {
        let mut rng = rand::rng();
        let keys: Vec<SigningKey> = (0..5).map(|_| SigningKey::generate_ed25519(&mut rng)).collect();
        let mut b = BatchVerifier::new();
        for (i, k) in keys.iter().enumerate() {
            let msg = format!("m{i}");
            let mut sig = k.sign(msg.as_bytes());
            if i == 3 {
                sig.bytes[10] ^= 1;
            }
            b.queue(&k.public_key(), msg.as_bytes(), &sig);
        }
        let res = b.verify(&mut rng);
        assert_eq!(res.iter().filter(|r| r.is_err()).count(), 1);
        assert!(res[3].is_err());
    }
}

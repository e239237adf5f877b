import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';

/**
 * Ed25519 signatures of kernel modules (node:crypto, RFC 8032 "pure" Ed25519).
 *
 * What is signed is a short, domain-separated statement about the module's bytes:
 *
 *     "qingtian-module-signature/1\n" + <SHA-256 of the module, 64 lowercase hex> + "\n"
 *
 * so a signature made for anything else (another format, another file) never verifies here,
 * and the statement is the same whatever tool computed it. A signature travels as a small
 * JSON document (the `--sig` file of `qingtian hotswap`):
 *
 *     { "format": "qingtian-module-signature/1", "algorithm": "ed25519", "keyId": "<16 hex>",
 *       "module": { "name", "version", "sha256" }, "signature": "<base64 of 64 bytes>" }
 *
 * `keyId` is the first 16 hex digits of the SHA-256 of the public key's SPKI DER encoding; it
 * selects the trusted key to verify with. `module` repeats what the signer saw, for messages.
 */
export const SIGNATURE_FORMAT = 'qingtian-module-signature/1';

/** A module's detached signature (the `.sig` file `qingtian keys sign` writes, as JSON). */
export interface ModuleSignature {
  /** `'qingtian-module-signature/1'`. */
  format: typeof SIGNATURE_FORMAT;
  /** Always `'ed25519'`. */
  algorithm: 'ed25519';
  /** The signer's key id: 16 hex digits of the SHA-256 of its public key's SPKI DER encoding. */
  keyId: string;
  /** What the signer saw: the module's name, version and SHA-256 (hex), repeated for messages. */
  module: { name: string; version: string; sha256: string };
  /** The Ed25519 signature of `"<format>\n<sha256>\n"`, base64 (64 bytes). */
  signature: string;
}

const signatureSchema = z.object({
  format: z.literal(SIGNATURE_FORMAT, { error: `"${SIGNATURE_FORMAT}"` }),
  algorithm: z.literal('ed25519', { error: '"ed25519"' }),
  keyId: z.string().regex(/^[0-9a-f]{16}$/, { error: '16 lowercase hex digits' }),
  module: z.object({
    name: z.string().max(64),
    version: z.string().max(32),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: '64 lowercase hex digits' }),
  }),
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, { error: 'base64 of 64 bytes' }),
});

/** SHA-256 of `bytes`, as 64 lowercase hex digits. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function statement(sha256: string): Buffer {
  return Buffer.from(`${SIGNATURE_FORMAT}\n${sha256}\n`, 'utf8');
}

/** Key id of an Ed25519 public key: 16 hex digits of the SHA-256 of its SPKI DER encoding. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('hex')
    .slice(0, 16);
}

/** A fresh Ed25519 key pair as PEM (private: PKCS#8, public: SPKI) and its key id. */
export function generateSigningKey(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** An Ed25519 public key from PEM text or a KeyObject (a private key gives its public half). */
export function ed25519PublicKey(key: string | KeyObject, what = 'public key'): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
  } catch (e) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${what}: expected an Ed25519 public key in PEM (SPKI), got an unreadable key: ${(e as Error).message}`,
    );
  }
  if (k.asymmetricKeyType !== 'ed25519')
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${what}: expected an Ed25519 key, got ${k.asymmetricKeyType ?? k.type}`,
    );
  return k;
}

function ed25519PrivateKey(key: string | KeyObject): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPrivateKey(key) : key;
  } catch (e) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `signing key: expected an Ed25519 private key in PEM (PKCS#8): ${(e as Error).message}`,
    );
  }
  if (k.type !== 'private' || k.asymmetricKeyType !== 'ed25519') {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `signing key: expected an Ed25519 private key, got ${k.type} ${k.asymmetricKeyType ?? ''}`.trim(),
    );
  }
  return k;
}

/** Signs a module's bytes. `module` names what is signed (for messages; the bytes are what counts). */
export function signModule(
  bytes: Uint8Array,
  privateKey: string | KeyObject,
  module: { name: string; version: string },
): ModuleSignature {
  const key = ed25519PrivateKey(privateKey);
  const sha256 = sha256Hex(bytes);
  return {
    format: SIGNATURE_FORMAT,
    algorithm: 'ed25519',
    keyId: keyIdOf(createPublicKey(key)),
    module: { name: module.name, version: module.version, sha256 },
    signature: sign(null, statement(sha256), key).toString('base64'),
  };
}

/** A signature from its JSON text, bytes of that text, or an object; QT_BAD_SIGNATURE if malformed. */
export function parseSignature(input: unknown): ModuleSignature {
  let value = input;
  if (input instanceof Uint8Array) value = Buffer.from(input).toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw new QingtianError(ErrorCode.BadSignature, 'signature: not a JSON signature document', {
        reason: 'malformed',
      });
    }
  }
  const r = signatureSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new QingtianError(
      ErrorCode.BadSignature,
      `signature.${issue.path.map(String).join('.')}: expected ${issue.message}`,
      { reason: 'malformed' },
    );
  }
  return r.data;
}

/**
 * The public keys a host accepts module signatures from, by key id (`host.swaps.trusted`);
 * constructing one directly is unstable (`qingtian/internals`).
 */
export class TrustedKeys {
  private readonly keys = new Map<string, KeyObject>();

  /** Trusts each of `keys` (PEM text or KeyObject); `QT_INVALID_ARGUMENT` for one that is not an Ed25519 public key. */
  constructor(keys: readonly (string | KeyObject)[] = []) {
    for (const k of keys) this.add(k);
  }

  /** Trusts a public key; returns its key id. */
  add(key: string | KeyObject): string {
    const k = ed25519PublicKey(key, 'trusted key');
    const id = keyIdOf(k);
    this.keys.set(id, k);
    return id;
  }

  /** The key ids trusted, in the order they were added. */
  ids(): string[] {
    return [...this.keys.keys()];
  }

  /**
   * Checks that `signature` is a valid Ed25519 signature, by a trusted key, of exactly these
   * bytes. Throws QT_BAD_SIGNATURE saying which of those failed (details.reason: 'unsigned',
   * 'malformed', 'untrusted-key', 'other-module', 'invalid'); returns the signer's key id.
   */
  verify(bytes: Uint8Array, signature: unknown): string {
    return this.check(bytes, signature).keyId;
  }

  /** `verify`, returning the parsed signature that verified. */
  check(bytes: Uint8Array, signature: unknown): ModuleSignature {
    if (signature === undefined || signature === null) {
      throw new QingtianError(
        ErrorCode.BadSignature,
        'module is unsigned: a hot swap needs an Ed25519 signature by a key this host trusts',
        { reason: 'unsigned' },
      );
    }
    const sig = parseSignature(signature);
    const key = this.keys.get(sig.keyId);
    if (!key) {
      const trusted = this.keys.size ? `trusted: ${this.ids().join(', ')}` : 'this host trusts no key yet';
      throw new QingtianError(
        ErrorCode.BadSignature,
        `module signed by key ${sig.keyId}, which this host does not trust (${trusted})`,
        { reason: 'untrusted-key', keyId: sig.keyId },
      );
    }
    const sha256 = sha256Hex(bytes);
    if (sha256 !== sig.module.sha256) {
      throw new QingtianError(
        ErrorCode.BadSignature,
        `signature is for ${sig.module.name}@${sig.module.version} (sha256 ${sig.module.sha256.slice(0, 16)}…), not for these bytes (sha256 ${sha256.slice(0, 16)}…)`,
        { reason: 'other-module' },
      );
    }
    if (!verify(null, statement(sha256), key, Buffer.from(sig.signature, 'base64'))) {
      throw new QingtianError(
        ErrorCode.BadSignature,
        `bad signature: it does not verify with key ${sig.keyId} for sha256 ${sha256.slice(0, 16)}…`,
        { reason: 'invalid', keyId: sig.keyId },
      );
    }
    return sig;
  }
}

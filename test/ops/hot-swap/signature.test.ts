import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, type QingtianError, isQingtianError } from '../../../src/common/errors.js';
import {
  TrustedKeys,
  generateSigningKey,
  parseSignature,
  sha256Hex,
  signModule,
} from '../../../src/ops/hot-swap/signature.js';
import { familyKernel, testKernel } from '../../helpers/kernels.js';

function refusal(f: () => unknown): QingtianError {
  try {
    f();
  } catch (e) {
    expect(isQingtianError(e, ErrorCode.BadSignature), String(e)).toBe(true);
    return e as QingtianError;
  }
  throw new Error('accepted');
}

describe('module signatures (Ed25519)', () => {
  const key = generateSigningKey();
  const other = generateSigningKey();
  const v1 = familyKernel('virtio');
  const v2 = testKernel('virtio-v2');
  const sig = signModule(v1, key.privateKeyPem, { name: 'virtio', version: '1.0.0' });
  const trusted = new TrustedKeys([key.publicKeyPem]);

  it('a signature by a trusted key verifies, as an object, its JSON text or those bytes', () => {
    expect(sig).toMatchObject({
      format: 'qingtian-module-signature/1',
      algorithm: 'ed25519',
      keyId: key.keyId,
      module: { name: 'virtio', version: '1.0.0', sha256: sha256Hex(v1) },
    });
    expect(trusted.verify(v1, sig)).toBe(key.keyId);
    expect(trusted.verify(v1, JSON.stringify(sig))).toBe(key.keyId);
    expect(trusted.verify(v1, new TextEncoder().encode(JSON.stringify(sig)))).toBe(key.keyId);
    expect(trusted.ids()).toEqual([key.keyId]);
  });

  it('refuses an unsigned module', () => {
    expect(refusal(() => trusted.verify(v1, undefined)).details['reason']).toBe('unsigned');
  });

  it('refuses other bytes than those signed, even one flipped bit', () => {
    const flipped = new Uint8Array(v1);
    flipped[flipped.length - 1]! ^= 1;
    expect(refusal(() => trusted.verify(flipped, sig)).details['reason']).toBe('other-module');
    expect(refusal(() => trusted.verify(v2, sig)).message).toMatch(/signature is for virtio@1\.0\.0/);
  });

  it('refuses a signature whose bytes were altered, or that claims the trusted key id', () => {
    const raw = Buffer.from(sig.signature, 'base64');
    raw[0]! ^= 0x80;
    expect(refusal(() => trusted.verify(v1, { ...sig, signature: raw.toString('base64') })).details['reason']).toBe(
      'invalid',
    );
    const forged = signModule(v1, other.privateKeyPem, { name: 'virtio', version: '1.0.0' });
    expect(refusal(() => trusted.verify(v1, { ...forged, keyId: key.keyId })).details['reason']).toBe('invalid');
  });

  it('refuses a key the host does not trust, naming it', () => {
    const e = refusal(() =>
      trusted.verify(v1, signModule(v1, other.privateKeyPem, { name: 'virtio', version: '1.0.0' })),
    );
    expect(e.details['reason']).toBe('untrusted-key');
    expect(e.message).toContain(other.keyId);
    expect(refusal(() => new TrustedKeys().verify(v1, sig)).message).toMatch(/trusts no key yet/);
  });

  it('signs a domain-separated statement: a bare Ed25519 signature of the module bytes does not verify', () => {
    const bare = sign(null, v1, key.privateKeyPem).toString('base64');
    expect(refusal(() => trusted.verify(v1, { ...sig, signature: bare })).details['reason']).toBe('invalid');
  });

  it('refuses malformed signature documents, naming the field', () => {
    expect(refusal(() => parseSignature('{not json')).details['reason']).toBe('malformed');
    expect(refusal(() => parseSignature({ ...sig, algorithm: 'rsa' })).message).toMatch(
      /^signature\.algorithm: expected "ed25519"/,
    );
    expect(refusal(() => parseSignature({ ...sig, signature: 'AAAA' })).message).toMatch(
      /^signature\.signature: expected base64 of 64 bytes/,
    );
    expect(refusal(() => parseSignature({ ...sig, keyId: 'XYZ' })).message).toMatch(/^signature\.keyId/);
  });

  it('trusts only Ed25519 public keys', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString();
    expect(() => new TrustedKeys([rsa])).toThrow(/expected an Ed25519 key, got rsa/);
    expect(() => new TrustedKeys(['not a key'])).toThrow(/unreadable key/);
    expect(() => signModule(v1, key.publicKeyPem, { name: 'virtio', version: '1.0.0' })).toThrow(/Ed25519 private key/);
  });
});

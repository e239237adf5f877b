import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { inspectKernel } from '../../common/kernel-image.js';
import { generateSigningKey, signModule } from '../../ops/hot-swap/signature.js';

export function readFileOrFail(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new QingtianError(ErrorCode.NotFound, `${what} ${path}: ${(e as Error).message}`, { path });
  }
}

/** `qingtian keys gen`: an Ed25519 key pair, <out>/<name>.key (private, mode 600) and <name>.pub. */
export function keysGenCommand(o: { out: string; name: string; force?: boolean; json?: boolean }): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.name)) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `keys gen --name: expected 1-64 of [A-Za-z0-9._-], got ${JSON.stringify(o.name)}`,
    );
  }
  const keyPath = join(o.out, `${o.name}.key`);
  const pubPath = join(o.out, `${o.name}.pub`);
  for (const p of [keyPath, pubPath]) {
    if (existsSync(p) && !o.force)
      throw new QingtianError(ErrorCode.InvalidArgument, `keys gen: ${p} exists; pass --force to replace it`);
  }
  const k = generateSigningKey();
  try {
    writeFileSync(keyPath, k.privateKeyPem, { mode: 0o600 });
    writeFileSync(pubPath, k.publicKeyPem);
  } catch (e) {
    throw new QingtianError(ErrorCode.InvalidArgument, `keys gen --out ${o.out}: ${(e as Error).message}`);
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ keyId: k.keyId, privateKey: keyPath, publicKey: pubPath }) + '\n');
    return;
  }
  process.stdout.write(
    `key id ${k.keyId} (Ed25519)\n` +
      `private key: ${keyPath} (keep it secret; sign with: qingtian keys sign <module.wasm> --key ${keyPath})\n` +
      `public key:  ${pubPath} (a host trusts it with --trust ${pubPath}, or Host.boot({ trustedKeys }))\n`,
  );
}

/** `qingtian keys sign`: writes <module>.sig (or --out), a signature a host checks before a hot swap. */
export function keysSignCommand(modulePath: string, o: { key: string; out?: string; json?: boolean }): void {
  const bytes = readFileOrFail(modulePath, 'module');
  // Only sign what a host would load: the kernel rules first (they also give name and version).
  const { info } = inspectKernel(bytes, 16384, basename(modulePath));
  const sig = signModule(bytes, readFileOrFail(o.key, 'key').toString('utf8'), info);
  const out = o.out ?? `${modulePath}.sig`;
  writeFileSync(out, JSON.stringify(sig, null, 2) + '\n');
  if (o.json) {
    const line = { module: info.name, version: info.version, sha256: info.sha256, keyId: sig.keyId, signature: out };
    process.stdout.write(JSON.stringify(line) + '\n');
    return;
  }
  process.stdout.write(`signed ${info.name}@${info.version} (sha256 ${info.sha256}) with key ${sig.keyId}: ${out}\n`);
}

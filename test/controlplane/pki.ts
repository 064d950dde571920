// Certificates and keys for a throw-away control plane on loopback.
// X.509 signing uses the `openssl` CLI (present on Debian machines) because node:crypto cannot issue
// certificates; key pairs come from node:crypto. Everything lives for two days and only in the run's temp dir.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Paths of the PEM files a control plane needs; all inside the folder given to {@link createPki}. */
export interface Pki {
  readonly caCert: string;
  readonly caKey: string;
  readonly servingCert: string;
  readonly servingKey: string;
  /** Client certificate of the admin user (group system:masters). */
  readonly adminCert: string;
  readonly adminKey: string;
  /** Client certificate of system:kube-controller-manager, bound by the bootstrap RBAC policy. */
  readonly controllerManagerCert: string;
  readonly controllerManagerKey: string;
  /** Service-account token signing key pair (RSA, RS256). */
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

const VALID_DAYS = '2';

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await execFileAsync('openssl', [...args], { timeout: 30_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}

async function writeEcKey(path: string): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFile(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
}

/** A leaf certificate signed by the CA: `subject` like `/O=system:masters/CN=admin`. */
export async function issue(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  subject: string,
  extensions: readonly string[],
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  await writeEcKey(key);
  await writeFile(ext, `[v3]\n${extensions.join('\n')}\n`);
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-out', csr]);
  await openssl([
    // A random serial: parallel signing with -CAcreateserial would race on the serial file.
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', VALID_DAYS,
    '-sha256', '-extfile', ext, '-extensions', 'v3', '-out', cert,
  ]);
  return { cert, key };
}

/** A self-signed CA (`ca.crt`, `ca.key` in `dir`) that lives two days. */
export async function createCa(dir: string, commonName = 'neon-operator-test-ca'): Promise<{ cert: string; key: string }> {
  const key = join(dir, 'ca.key');
  const cert = join(dir, 'ca.crt');
  await writeEcKey(key);
  await openssl([
    'req', '-x509', '-new', '-key', key, '-subj', `/CN=${commonName}`, '-days', VALID_DAYS, '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-out', cert,
  ]);
  return { cert, key };
}

/** The extensions of a leaf certificate (add extendedKeyUsage and subjectAltName). */
export const LEAF_EXTENSIONS: readonly string[] = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'];

/** Creates a CA, the API server's serving certificate (127.0.0.1, localhost), client certificates and the SA key. */
export async function createPki(dir: string): Promise<Pki> {
  const ca = await createCa(dir);
  const { cert: caCert, key: caKey } = ca;
  const leaf = LEAF_EXTENSIONS;
  const [serving, admin, kcm] = await Promise.all([
    issue(dir, ca, 'serving', '/CN=kube-apiserver', [
      ...leaf,
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ]),
    issue(dir, ca, 'admin', '/O=system:masters/CN=neon-operator-e2e-admin', [...leaf, 'extendedKeyUsage=clientAuth']),
    issue(dir, ca, 'kube-controller-manager', '/CN=system:kube-controller-manager', [
      ...leaf,
      'extendedKeyUsage=clientAuth',
    ]),
  ]);
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  await writeFile(serviceAccountKey, sa.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  await writeFile(serviceAccountPub, sa.publicKey.export({ format: 'pem', type: 'spki' }));
  return {
    caCert,
    caKey,
    servingCert: serving.cert,
    servingKey: serving.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    controllerManagerCert: kcm.cert,
    controllerManagerKey: kcm.key,
    serviceAccountKey,
    serviceAccountPub,
  };
}

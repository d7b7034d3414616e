/**
 * The city's document signer: the LGPKI-sim document-signing key stays in a
 * PKCS#11 token (SoftHSM2 by default); this process only logs in and asks the token
 * to sign. The certificate and its chain are read from the token too, so a signing
 * server needs the module, the token label and the PIN, and no key file at all.
 */
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KonbiniError } from '@konbini/protocol';
import { signedAttributes, signedData } from './cms.js';
import { addSignaturePlaceholder, fillSignature, signedParts } from './pdf-signature.js';
import { P, acquireModule, attribute, findObjects, findTokenSlot, isTokenGone, mapPkcs11Error, type Handle, type ModuleLease } from './pkcs11.js';

/** Labels of the objects `city-cert hsm init` puts on a city's token. */
export const TOKEN_OBJECTS = { key: 'docsign', cert: 'docsign', chain: 'lgpki-ca' } as const;

export type PinSource = { value: string } | { file: string } | { env: string };

export interface Pkcs11SignerConfig {
  /** PKCS#11 module (default SoftHSM2). */
  module: string;
  /** SoftHSM2 configuration (exported as SOFTHSM2_CONF before the module starts). */
  softhsmConf?: string;
  tokenLabel: string;
  pin: PinSource;
}

export interface DocumentSigner {
  /** Bytes reserved in the PDF for the CMS. */
  readonly contentsBytes: number;
  /** SHA-256 of the signing certificate (for logs). */
  readonly certSha256: string;
  /** Add the signature field to `pdf`; call `finish` with the final bytes once nothing else changes. */
  prepare(pdf: Buffer, signingTime: Date): { pdf: Buffer; finish(final: Buffer): Buffer };
  /**
   * Sign arbitrary bytes with the document-signing key: RSASSA-PKCS1-v1_5 with
   * SHA-256 over `data` (the token hashes), as verified by
   * `crypto.verify('sha256', data, <certificate's public key>, signature)`. For
   * signatures the city makes besides the PDF's own, e.g. the 2D code of the back page.
   */
  signData(data: Buffer): Buffer;
  close(): void;
}

function readPin(source: PinSource): string {
  if ('value' in source) return source.value;
  if ('env' in source) {
    const v = process.env[source.env];
    if (!v) throw new KonbiniError('SIGNER_PIN_INCORRECT', { reason: 'pin-env-empty' });
    return v;
  }
  try {
    return readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    throw new KonbiniError('SIGNER_PIN_INCORRECT', { reason: 'pin-file-unreadable' }, { cause: err });
  }
}

const SELF_TEST = Buffer.from('konbini document signer self-test');

export class Pkcs11Signer implements DocumentSigner {
  readonly contentsBytes: number;
  readonly certSha256: string;
  private session: Handle | undefined;
  private key: Handle | undefined;
  private readonly certificates: Buffer[];

  /** The document-signing certificate (DER), as read from the token. */
  get certificate(): Buffer {
    return Buffer.from(this.certificates[0]!);
  }
  private closed = false;

  private constructor(
    private readonly lease: ModuleLease,
    private readonly config: Pkcs11SignerConfig,
    private readonly pin: string,
  ) {
    this.login();
    const p11 = this.lease.p11;
    const session = this.session!;
    const [certObj] = findObjects(p11, session, [
      { type: P.CKA_CLASS, value: P.CKO_CERTIFICATE },
      { type: P.CKA_LABEL, value: TOKEN_OBJECTS.cert },
    ]);
    if (!certObj) throw new KonbiniError('SIGNER_FAILED', { reason: 'no-certificate-on-token' });
    const signerCert = attribute(p11, session, certObj, P.CKA_VALUE);
    const chain = findObjects(p11, session, [
      { type: P.CKA_CLASS, value: P.CKO_CERTIFICATE },
      { type: P.CKA_LABEL, value: TOKEN_OBJECTS.chain },
    ]).map((h) => attribute(p11, session, h, P.CKA_VALUE));
    this.certificates = [signerCert, ...chain];
    this.certSha256 = createHash('sha256').update(signerCert).digest('hex');
    const total = this.certificates.reduce((n, c) => n + c.length, 0);
    this.contentsBytes = Math.ceil((total + 2048) / 512) * 512;
    this.selfTest(signerCert);
  }

  /** Open the token by label, log in, check the key signs for the certificate. */
  static open(config: Pkcs11SignerConfig): Pkcs11Signer {
    const pin = readPin(config.pin);
    const lease = acquireModule(config.module, config.softhsmConf);
    try {
      return new Pkcs11Signer(lease, config, pin);
    } catch (err) {
      lease.release();
      throw mapPkcs11Error(err, 'open');
    }
  }

  private login(): void {
    const p11 = this.lease.p11;
    const slot = findTokenSlot(p11, this.config.tokenLabel);
    if (!slot) throw new KonbiniError('SIGNER_TOKEN_MISSING', { reason: 'no-token-with-label' });
    const session = p11.C_OpenSession(slot, P.CKF_SERIAL_SESSION);
    try {
      try {
        p11.C_Login(session, P.CKU_USER, this.pin);
      } catch (err) {
        if ((err as { code?: number }).code !== P.CKR_USER_ALREADY_LOGGED_IN) throw err;
      }
      const [key] = findObjects(p11, session, [
        { type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY },
        { type: P.CKA_LABEL, value: TOKEN_OBJECTS.key },
      ]);
      if (!key) throw new KonbiniError('SIGNER_FAILED', { reason: 'no-key-on-token' });
      this.session = session;
      this.key = key;
    } catch (err) {
      try {
        p11.C_CloseSession(session);
      } catch {
        // the session may already be gone with the token
      }
      throw mapPkcs11Error(err, 'login');
    }
  }

  private selfTest(certDer: Buffer): void {
    const signature = this.signData(SELF_TEST);
    const publicKey = createPublicKey(new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'pem' }));
    if (!verify('sha256', SELF_TEST, publicKey, signature)) {
      throw new KonbiniError('SIGNER_FAILED', { reason: 'key-does-not-match-certificate' });
    }
  }

  /**
   * RSASSA-PKCS1-v1_5 with SHA-256 over `data` by the token (CKM_SHA256_RSA_PKCS): the
   * document-signing key never leaves it. One retry after a lost session (token
   * re-inserted, or logged out by another user of the module in this process).
   * SIGNER_FAILED once the signer is closed; SIGNER_TOKEN_MISSING when the token is
   * gone for good. The signing certificate is `certificate` (DER).
   */
  signData(data: Buffer): Buffer {
    if (this.closed) throw new KonbiniError('SIGNER_FAILED', { reason: 'closed' });
    for (let attempt = 0; ; attempt++) {
      try {
        const p11 = this.lease.p11;
        p11.C_SignInit(this.session!, { mechanism: P.CKM_SHA256_RSA_PKCS }, this.key!);
        return p11.C_Sign(this.session!, data, Buffer.alloc(1024));
      } catch (err) {
        // a token re-inserted, or a logout by another user of this module in this process
        if (attempt === 0 && (isTokenGone(err) || (err as { code?: number }).code === P.CKR_USER_NOT_LOGGED_IN)) {
          this.login();
          continue;
        }
        throw mapPkcs11Error(err, 'sign');
      }
    }
  }

  prepare(pdf: Buffer, signingTime: Date): { pdf: Buffer; finish(final: Buffer): Buffer } {
    const prepared = addSignaturePlaceholder(pdf, { contentsBytes: this.contentsBytes, signingTime });
    return {
      pdf: prepared.pdf,
      finish: (final: Buffer) => {
        if (final.length !== prepared.pdf.length) throw new KonbiniError('INTERNAL', { reason: 'signed-pdf-length-changed' });
        const digest = createHash('sha256');
        for (const part of signedParts(final, prepared.byteRange)) digest.update(part);
        const input = { contentDigest: digest.digest(), certificates: this.certificates };
        const attrs = signedAttributes(input);
        const cms = signedData(input, attrs, this.signData(attrs));
        return fillSignature(final, prepared.byteRange, cms);
      },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.session) this.lease.p11.C_CloseSession(this.session);
    } catch {
      // closing after the token went away
    }
    this.lease.release();
  }
}

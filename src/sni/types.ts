// Shared shapes of the SNI engine: discovery -> validation -> plan -> render -> write.

export type Severity = "error" | "warning";

/** One finding about the certificate tree; `source` is the directory or file it concerns. */
export interface Problem {
  severity: Severity;
  /** Stable machine-readable code, e.g. `key-mismatch`, `expired`, `invalid-name`. */
  code: string;
  source: string;
  message: string;
}

/** Key + certificate chain files of one algorithm. */
export interface KeyPairFiles {
  keyFile: string;
  certFile: string;
}

/** A place certificates come from: the default pair in the SSL dir, or one subdirectory. */
export interface CertificateSource {
  kind: "default" | "directory";
  /** The directory holding the files (the SSL dir itself for the default pair). */
  dir: string;
  /** key.pem + cert.pem: the main pair, whatever its key type (RSA in mailcow, EC or Ed25519 where admins put their own). */
  main: KeyPairFiles;
  /** ecdsa-key.pem + ecdsa-cert.pem beside the main pair, when both exist. */
  ecdsa?: KeyPairFiles;
  /** Raw text of `domains` (directories only). */
  domainsText?: string;
  domainsFile?: string;
  /** `domains` resolves outside the SSL dir (a symlink): its rejected values are counted, never shown. */
  domainsOutside?: boolean;
}

/** What validation learned of one key + chain pair. */
export interface PairReport {
  files: KeyPairFiles;
  /** DNS names of the leaf (subject alternative names, else the CNs), as written (ASCII). */
  certificateNames: string[];
  /** Name values that are not ASCII text, escaped; never mapped. */
  rejectedNames?: string[];
  notAfter?: string;
  notBefore?: string;
  /** OpenSSL's key type (RSA, EC, ED25519, ...), its curve and size, once Postfix's loader took the pair. */
  keyType?: string;
  curve?: string;
  bits?: number;
  /** Postfix's loader installed this key with this certificate. */
  keyMatches: boolean;
  valid: boolean;
  /** Why the pair is not mapped, when it is not (code + reason without the directory). */
  failure?: { code: string; reason: string; severity?: Severity };
  /** Index (1-based) of the first chain certificate that did not issue the one before it. */
  chainBreak?: number;
  /** What verifying clients refuse although the handshake completes (client-fit.ts): one warning each. */
  verifierWarnings?: { code: string; message: string }[];
}

/** What judging a source gives, without the bytes: this is what the judgement cache keeps. */
export interface SourceJudgement {
  main: PairReport;
  ecdsa?: PairReport;
  /** The ecdsa pair is part of the embedded value. */
  withEcdsa: boolean;
}

export interface ValidatedSource {
  source: CertificateSource;
  main: PairReport;
  ecdsa?: PairReport;
  /** Usable for the map: Postfix's loader takes the main pair. */
  usable: boolean;
  /**
   * What sni.map.db embeds for this source's names: the files that were read and judged,
   * joined as postmap -F joins them. Absent when the source is not usable.
   */
  value?: EmbeddedValue;
  /** Identities of the pair files as they were when read (file-identity.ts); absent when a file changed under the read. */
  identities?: Record<string, string>;
}

/**
 * A judged value: its SHA-256 and length always; its bytes when this run read them. Bytes
 * left unread (the files' identities vouched for them, validate.ts) are read when a build
 * needs them and must have the digest (embedded.ts).
 */
export interface EmbeddedValue {
  /** `sha256:` and the hex digest of the bytes. */
  digest: string;
  length: number;
  bytes?: Uint8Array;
}

/** One line of sni.map. */
export interface MapEntry {
  name: string;
  /** The source directory (for reports). */
  sourceDir: string;
  /** key, chain[, key, chain] as they appear on the line. */
  files: string[];
  /** The judged value embedded for this name (ValidatedSource.value). */
  value: EmbeddedValue;
}

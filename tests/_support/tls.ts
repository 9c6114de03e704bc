/**
 * A private certificate authority for the tests, made by `openssl` in a
 * folder: its certificate, and a server certificate it signed for
 * 127.0.0.1 and localhost, with the server's key.
 *
 * @module
 */

/** The files {@linkcode makeTestCertificates} writes. */
export interface TestCertificates {
  /** The CA's certificate (PEM): what a client trusts. */
  caCertificate: string;
  /** The server's certificate (PEM), signed by the CA, for `IP:127.0.0.1`
   * and `DNS:localhost`. */
  certificate: string;
  /** The server's private key (PEM). */
  key: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const result = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const decoder = new TextDecoder();
    throw new Error(
      `openssl ${args[0]} failed: ${decoder.decode(result.stderr)}${
        decoder.decode(result.stdout)
      }`,
    );
  }
}

/**
 * Makes a CA (P-256 keys, valid for 2 days) and a server certificate it
 * signs for 127.0.0.1 and localhost.
 *
 * @param dir The folder the keys and certificates are written to.
 * @returns Their paths.
 * @throws {Error} If `openssl` fails, with its output.
 */
export async function makeTestCertificates(
  dir: string,
): Promise<TestCertificates> {
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  await openssl(dir, [
    "req",
    "-x509",
    ...key,
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=msfd test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await openssl(dir, [
    "req",
    "-new",
    ...key,
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  ]);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "",
    ].join("\n"),
  );
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ]);
  return {
    caCertificate: `${dir}/ca.pem`,
    certificate: `${dir}/server.pem`,
    key: `${dir}/server.key`,
  };
}

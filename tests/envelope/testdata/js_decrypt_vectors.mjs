// The reverse interoperability check: the AWS Encryption SDK for JavaScript
// (@aws-crypto/client-node, installed under tests/interop/js) decrypts ESDK messages
// written by coffer (tests/envelope/write_coffer_vectors.cc): every DIR/coffer-*.esdk
// with the raw AES keyring of the vectors must decrypt to DIR/<same name>.plain, and a
// copy with its last byte changed must be refused.
// Usage: node tests/envelope/testdata/js_decrypt_vectors.mjs DIR
// Prints "ok - …" / "not ok - …" per message; exit status 0 only if all passed.
import { createRequire } from 'node:module'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(here, '../../interop/js/package.json'))
const {
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  buildClient,
} = require('@aws-crypto/client-node')
const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

// A fresh keyring (and key buffer) per message: the SDK may wipe the buffer it is given.
function keyring () {
  return new RawAesKeyringNode({
    keyNamespace: 'coffer-test',
    keyName: 'vector-key',
    unencryptedMasterKey: new Uint8Array(
      Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex')),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    utf8Sorting: true,
  })
}

const dir = process.argv[2]
if (!dir) {
  console.error('usage: js_decrypt_vectors.mjs DIR')
  process.exit(2)
}
const names = readdirSync(dir).filter((f) => f.startsWith('coffer-') && f.endsWith('.esdk'))
let failed = 0
if (names.length === 0) {
  console.log(`not ok - no coffer-*.esdk in ${dir}`)
  failed++
}
for (const f of names.sort()) {
  const message = readFileSync(join(dir, f))
  const plain = readFileSync(join(dir, f.replace(/\.esdk$/, '.plain')))
  try {
    const { plaintext, messageHeader } = await decrypt(keyring(), message)
    if (!Buffer.from(plaintext).equals(plain)) throw new Error('plaintext differs')
    const damaged = Buffer.from(message)
    damaged[damaged.length - 1] ^= 1
    let refused = false
    try {
      await decrypt(keyring(), damaged)
    } catch (e) {
      refused = true
    }
    if (!refused) throw new Error('a damaged copy decrypted')
    console.log(`ok - ${f}: ${plaintext.length} bytes, suite ${messageHeader.suiteId.toString(16)}, frame ${messageHeader.frameLength}`)
  } catch (e) {
    failed++
    console.log(`not ok - ${f}: ${e.message}`)
  }
}
process.exit(failed === 0 ? 0 : 1)

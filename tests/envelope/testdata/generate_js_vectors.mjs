// Writes the ESDK known-answer vectors of tests/envelope/testdata: messages made by
// the AWS Encryption SDK for JavaScript (@aws-crypto/client-node, installed under
// tests/interop/js) with a raw AES keyring and a fixed wrapping key, each beside the
// plaintext it decrypts to. envelope_interop_test.cc decrypts them with coffer's
// EnvelopeReader and RawAesKeyring. The SDK picks message ids, IVs of wrapped keys
// and signing keys at random, so each run writes different (equally valid) messages;
// run it only to add vectors:
//   node tests/envelope/testdata/generate_js_vectors.mjs tests/envelope/testdata
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(here, '../../interop/js/package.json'))
const {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  buildClient,
} = require('@aws-crypto/client-node')

const outDir = process.argv[2] || here
// The fixed key of the vectors (also in envelope_interop_test.cc and the fuzz target).
// Each keyring takes a buffer of its own (not a view into Node's shared pool); it
// may wipe it when done, so every keyring gets a fresh copy.
const wrappingKeyHex = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
// utf8Sorting: the keyring's AAD sorts the context by UTF-8 bytes, as the
// specification (and coffer) do. Without it (the SDK's default) the keyring sorts
// with String.localeCompare, which agrees only for simple ASCII keys; the message
// header is sorted by UTF-8 either way.
function keyring (utf8Sorting) {
  return new RawAesKeyringNode({
    keyNamespace: 'coffer-test',
    keyName: 'vector-key',
    unencryptedMasterKey: new Uint8Array(Buffer.from(wrappingKeyHex, 'hex')),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    utf8Sorting,
  })
}
const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

// Plaintext byte i is (i * 131 + 7) mod 256.
function plaintext (n) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 131 + 7) & 0xff
  return b
}

const S0478 = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY
const S0578 = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
const backupContext = { 'coffer:format': '1', 'coffer:engine': 'sqlite', 'coffer:database': 'orders' }
const vectors = [
  { name: 'js-0478-frame64-200', suiteId: S0478, frameLength: 64, size: 200, context: backupContext },
  { name: 'js-0578-frame64-200', suiteId: S0578, frameLength: 64, size: 200, context: backupContext },
  { name: 'js-0578-frame64-128', suiteId: S0578, frameLength: 64, size: 128, context: backupContext },
  { name: 'js-0478-frame4096-0', suiteId: S0478, frameLength: 4096, size: 0, context: {} },
  { name: 'js-0578-frame1-5', suiteId: S0578, frameLength: 1, size: 5, context: { a: 'b' } },
  {
    name: 'js-0578-frame4096-5000',
    suiteId: S0578,
    frameLength: 4096,
    size: 5000,
    utf8Sorting: true,
    // Keys whose UTF-8 order differs from their UTF-16 order.
    context: { 'z': 'last ascii', '\u00e9t\u00e9': 'summer', '\ud83d\udd11': 'key', '\uff21': 'fullwidth A' },
  },
]

for (const v of vectors) {
  const plain = plaintext(v.size)
  const k = keyring(v.utf8Sorting)
  const { result } = await encrypt(k, plain, {
    suiteId: v.suiteId,
    frameLength: v.frameLength,
    encryptionContext: v.context,
  })
  const back = await decrypt(k, result)
  if (!Buffer.from(back.plaintext).equals(plain)) throw new Error(`${v.name}: round trip failed`)
  writeFileSync(join(outDir, `${v.name}.esdk`), result)
  writeFileSync(join(outDir, `${v.name}.plain`), plain)
  console.log(`${v.name}: ${result.length} bytes`)
}

// coffer interop: the AWS Encryption SDK for JavaScript (and the AWS SDK for JavaScript v3
// underneath it) with coffer as its KMS.
//
// Usage: COFFER_ENDPOINT=http://127.0.0.1:PORT COFFER_ROOT_CREDENTIALS=DATA_DIR/root-credentials \
//          node tests/interop/js/esdk_roundtrip.mjs
// Prints "ok - …" / "not ok - …" per check and a closing "N passed, N failed" line (also
// appended to $COFFER_INTEROP_RESULTS when set). Exit status 0 only if every check passed.
import { randomBytes, randomUUID } from 'node:crypto'
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  KmsKeyringNode,
  buildClient,
  getClient,
} from '@aws-crypto/client-node'
import { KMS } from '@aws-sdk/client-kms'
import { assert, assertEqual, assertRejects, check, finish, readCredentials } from './harness.mjs'

const endpoint = process.env.COFFER_ENDPOINT
const credentialsFile = process.env.COFFER_ROOT_CREDENTIALS
const region = process.env.COFFER_REGION || 'us-east-1'
const account = process.env.COFFER_ACCOUNT || '111122223333'
if (!endpoint || !credentialsFile) {
  console.error('COFFER_ENDPOINT and COFFER_ROOT_CREDENTIALS must be set')
  process.exit(2)
}

const root = readCredentials(credentialsFile)
const suffix = randomBytes(4).toString('hex')
const kmsConfig = (credentials = root, extra = {}) => ({
  endpoint,
  region,
  credentials,
  maxAttempts: 1,
  ...extra,
})
const kms = new KMS(kmsConfig())
const clientProvider = getClient(KMS, kmsConfig())

// One client with key commitment required (the SDK's default) and one that may use 0x0478.
const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

const context = { purpose: 'backup', db: 'customers', engine: 'sqlserver' }
const plaintext = randomBytes(100 * 1024 + 17) // several frames

let keyA, keyB, alias
await check('KMS client: CreateKey, CreateAlias (AWS SDK for JavaScript v3 signing)', async () => {
  keyA = (await kms.createKey({ Description: `esdk A ${suffix}` })).KeyMetadata
  keyB = (await kms.createKey({ Description: `esdk B ${suffix}` })).KeyMetadata
  assertEqual(keyA.Arn, `arn:aws:kms:${region}:${account}:key/${keyA.KeyId}`, 'key ARN')
  assertEqual(keyA.KeyState, 'Enabled', 'KeyState')
  assert(keyA.CreationDate instanceof Date && Math.abs(keyA.CreationDate - Date.now()) < 120000, 'CreationDate')
  alias = `alias/esdk-${suffix}`
  await kms.createAlias({ AliasName: alias, TargetKeyId: keyA.KeyId })
  const described = (await kms.describeKey({ KeyId: alias })).KeyMetadata
  assertEqual(described.Arn, keyA.Arn, 'DescribeKey by alias')
})

const label = `esdk-js (@aws-crypto/client-node, node ${process.version})`
if (!keyA) finish(label, 'no key: nothing else can run')

await check('KMS client: Encrypt/Decrypt/GenerateDataKey with Uint8Array blobs', async () => {
  const data = new Uint8Array([0, 1, 2, 250, 255])
  const enc = await kms.encrypt({ KeyId: keyA.KeyId, Plaintext: data, EncryptionContext: { a: 'b' } })
  assertEqual(enc.KeyId, keyA.Arn, 'Encrypt KeyId')
  const dec = await kms.decrypt({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { a: 'b' } })
  assertEqual(Buffer.from(dec.Plaintext).toString('hex'), Buffer.from(data).toString('hex'), 'plaintext')
  assertEqual(dec.KeyId, keyA.Arn, 'Decrypt KeyId')
  const gdk = await kms.generateDataKey({ KeyId: alias, KeySpec: 'AES_256' })
  assertEqual(gdk.Plaintext.length, 32, 'data key size')
  assertEqual(gdk.KeyId, keyA.Arn, 'GenerateDataKey KeyId is the key ARN')
  const err = await assertRejects(kms.decrypt({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { a: 'c' } }),
    ['InvalidCiphertextException'], 'Decrypt with another context')
  assertEqual(err.name, 'InvalidCiphertextException', 'error name')
  assertEqual(err.$metadata.httpStatusCode, 400, 'HTTP status')
  assert(err.$metadata.requestId, 'the error carries a request id')
  const missing = randomUUID()
  const nf = await assertRejects(kms.describeKey({ KeyId: missing }), ['NotFoundException'], 'DescribeKey missing')
  assertEqual(nf.message, `Key 'arn:aws:kms:${region}:${account}:key/${missing}' does not exist`, 'message')
})

let sealed
await check('ESDK encrypt (default suite, key commitment) with a generator and a second key', async () => {
  const keyring = new KmsKeyringNode({ generatorKeyId: keyA.Arn, keyIds: [keyB.Arn], clientProvider })
  sealed = await encrypt(keyring, plaintext, { encryptionContext: context, frameLength: 4096 })
  const header = sealed.messageHeader
  assertEqual(header.suiteId, AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384, 'suite')
  assertEqual(header.encryptedDataKeys.length, 2, 'one encrypted data key per KMS key')
  const infos = header.encryptedDataKeys.map((k) => [k.providerId, k.providerInfo])
  assertEqual(JSON.stringify(infos), JSON.stringify([['aws-kms', keyA.Arn], ['aws-kms', keyB.Arn]]),
    'providerInfo is the key ARN coffer returned')
  for (const [k, v] of Object.entries(context)) assertEqual(header.encryptionContext[k], v, `context ${k}`)
  assert(sealed.result.length > plaintext.length, 'ciphertext message')
})

await check('ESDK decrypt with the generator key', async () => {
  const keyring = new KmsKeyringNode({ keyIds: [keyA.Arn], clientProvider })
  const { plaintext: out, messageHeader } = await decrypt(keyring, sealed.result)
  assert(Buffer.compare(out, plaintext) === 0, 'plaintext differs')
  for (const [k, v] of Object.entries(context)) assertEqual(messageHeader.encryptionContext[k], v, `context ${k}`)
})

await check('ESDK decrypt with the second key only (its data key came from KMS Encrypt)', async () => {
  const keyring = new KmsKeyringNode({ keyIds: [keyB.Arn], clientProvider })
  const { plaintext: out } = await decrypt(keyring, sealed.result)
  assert(Buffer.compare(out, plaintext) === 0, 'plaintext differs')
})

await check('ESDK round trip with suite 0x0478 (no signature) and an alias as generator', async () => {
  const keyring = new KmsKeyringNode({ generatorKeyId: alias, clientProvider })
  const out = await encrypt(keyring, plaintext, {
    encryptionContext: context,
    suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  })
  assertEqual(out.messageHeader.suiteId, 0x0478, 'suite')
  assertEqual(out.messageHeader.encryptedDataKeys[0].providerInfo, keyA.Arn,
    'an alias generator records the key ARN (GenerateDataKey returns KeyId as the key ARN)')
  const back = await decrypt(new KmsKeyringNode({ keyIds: [keyA.Arn], clientProvider }), out.result)
  assert(Buffer.compare(back.plaintext, plaintext) === 0, 'plaintext differs')
})

await check('ESDK decrypt refuses a tampered message', async () => {
  const tampered = Buffer.from(sealed.result)
  tampered[tampered.length - 200] ^= 1
  await assertRejects(decrypt(new KmsKeyringNode({ keyIds: [keyA.Arn], clientProvider }), tampered), [], 'tampered')
})

await check('ESDK decrypt fails while the key is disabled, with coffer\'s DisabledException', async () => {
  const keyring = new KmsKeyringNode({ keyIds: [keyA.Arn], clientProvider })
  await kms.disableKey({ KeyId: keyA.KeyId })
  try {
    await assertRejects(decrypt(keyring, sealed.result), ['DisabledException', `${keyA.Arn} is disabled.`], 'disabled key')
  } finally {
    await kms.enableKey({ KeyId: keyA.KeyId })
  }
  const { plaintext: out } = await decrypt(keyring, sealed.result)
  assert(Buffer.compare(out, plaintext) === 0, 'plaintext differs after EnableKey')
})

await check('ESDK encrypt fails with a wrong secret, with coffer\'s InvalidSignatureException', async () => {
  const badProvider = getClient(KMS, kmsConfig({ accessKeyId: root.accessKeyId, secretAccessKey: 'x'.repeat(40) }))
  const keyring = new KmsKeyringNode({ generatorKeyId: keyA.Arn, clientProvider: badProvider })
  await assertRejects(encrypt(keyring, plaintext, { encryptionContext: context }),
    ['The request signature we calculated does not match the signature you provided.'], 'wrong secret')
})

await check('AWS SDK for JavaScript corrects a skewed client clock from the server\'s Date header', async () => {
  // The SDK signs 10 minutes in the past, gets "Signature expired", reads the Date header of
  // the error response, corrects its offset and retries once.
  const skewed = new KMS(kmsConfig(root, { systemClockOffset: -10 * 60 * 1000, maxAttempts: 2 }))
  const out = await skewed.listKeys({ Limit: 1 })
  assert(Array.isArray(out.Keys), 'ListKeys result')
  assert(Math.abs(skewed.config.systemClockOffset) < 60 * 1000,
    `the SDK corrected its clock offset (now ${skewed.config.systemClockOffset} ms)`)
  assertEqual(out.$metadata.attempts, 2, 'attempts')
})

finish(label)

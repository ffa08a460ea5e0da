// coffer interop: `coffer encrypt` / `coffer decrypt` against the AWS Encryption SDK for
// JavaScript, both with coffer's endpoint as their KMS. Messages go both ways:
//   coffer encrypt -> ESDK decrypt (suites 0x0478 and 0x0578, frame lengths, zstd inside)
//   ESDK encrypt   -> coffer decrypt (its default suite 0x0578 with 4096-byte frames, and
//                     0x0478 with 1 MiB frames; empty and multiple-of-frame plaintexts)
// and coffer decrypt refuses damaged messages and wrong contexts, leaving no output file.
//
// Usage: COFFER_BIN=build/coffer COFFER_ENDPOINT=http://127.0.0.1:PORT \
//          COFFER_ROOT_CREDENTIALS=DATA_DIR/root-credentials node esdk_files.mjs
// Prints "ok - …" / "not ok - …" per check; exit status 0 only if every check passed.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  KmsKeyringNode,
  buildClient,
  getClient,
} from '@aws-crypto/client-node'
import { KMS } from '@aws-sdk/client-kms'
import { assert, assertEqual, check, finish, readCredentials } from './harness.mjs'

const endpoint = process.env.COFFER_ENDPOINT
const credentialsFile = process.env.COFFER_ROOT_CREDENTIALS
const cofferBin = process.env.COFFER_BIN && resolve(process.env.COFFER_BIN)
const region = process.env.COFFER_REGION || 'us-east-1'
if (!endpoint || !credentialsFile || !cofferBin) {
  console.error('COFFER_BIN, COFFER_ENDPOINT and COFFER_ROOT_CREDENTIALS must be set')
  process.exit(2)
}

const root = readCredentials(credentialsFile)
const kmsConfig = { endpoint, region, credentials: root, maxAttempts: 1 }
const kms = new KMS(kmsConfig)
const clientProvider = getClient(KMS, kmsConfig)
const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
const work = mkdtempSync(join(tmpdir(), 'coffer-esdk-files-'))

function sameBytes (a, b, what) {
  assert(a.length === b.length && Buffer.compare(a, b) === 0,
    `${what}: ${a.length} bytes differ from the expected ${b.length}`)
}

// Runs the coffer client with the root credentials; returns {status, stdout, stderr}.
function coffer (...args) {
  const r = spawnSync(cofferBin, args, {
    env: { ...process.env, AWS_SHARED_CREDENTIALS_FILE: credentialsFile, COFFER_ENDPOINT_URL: endpoint },
    maxBuffer: 64 << 20,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() }
}
function cofferOk (...args) {
  const r = coffer(...args)
  assert(r.status === 0, `coffer ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return r
}
const file = (name) => join(work, name)

let key
await check('a key for the files (CreateKey through the AWS SDK for JavaScript)', async () => {
  key = (await kms.createKey({ Description: 'esdk files' })).KeyMetadata
  await kms.createAlias({ AliasName: `alias/files-${randomBytes(3).toString('hex')}`, TargetKeyId: key.KeyId })
})
const label = 'esdk-files (coffer encrypt/decrypt with @aws-crypto/client-node)'
if (!key) finish(label, 'no key')
const keyring = () => new KmsKeyringNode({ keyIds: [key.Arn], clientProvider })
const context = { purpose: 'backup', database: 'customers' }

const cases = [
  { name: 'default suite 0x0478, 1 MiB frames', args: [], size: 3 * 1048576 + 5, suite: 0x0478, frame: 1048576 },
  { name: 'suite 0x0578, 4096-byte frames', args: ['--algorithm-suite', '0x0578', '--frame-length', '4096'], size: 100000, suite: 0x0578, frame: 4096 },
  { name: 'exact multiple of the frame length', args: ['--frame-length', '1000'], size: 5000, suite: 0x0478, frame: 1000 },
  { name: 'empty file', args: [], size: 0, suite: 0x0478, frame: 1048576 },
]
for (const c of cases) {
  await check(`coffer encrypt (${c.name}) -> ESDK for JavaScript decrypt`, async () => {
    const plain = randomBytes(c.size)
    writeFileSync(file('in.bin'), plain)
    cofferOk('encrypt', '--key-id', key.Arn, '--in', file('in.bin'), '--out', file('out.esdk'),
      '--encryption-context', 'purpose=backup,database=customers', ...c.args)
    const message = readFileSync(file('out.esdk'))
    const { plaintext, messageHeader } = await decrypt(keyring(), message)
    sameBytes(plaintext, plain, 'plaintext')
    assertEqual(messageHeader.suiteId, c.suite, 'suite')
    assertEqual(messageHeader.frameLength, c.frame, 'frame length')
    for (const [k, v] of Object.entries(context)) assertEqual(messageHeader.encryptionContext[k], v, `context ${k}`)
    assertEqual(messageHeader.encryptionContext['coffer:compression'], 'none', 'coffer:compression')
    assertEqual(messageHeader.encryptedDataKeys[0].providerInfo, key.Arn, 'the EDK names the key ARN')
  })
}

await check('coffer encrypt --compression zstd -> ESDK decrypt -> zstd -d gives the file back', async () => {
  const plain = Buffer.from('customer,order,amount\n'.repeat(50000))
  writeFileSync(file('in.csv'), plain)
  cofferOk('encrypt', '--key-id', key.Arn, '--in', file('in.csv'), '--out', file('csv.esdk'), '--compression', 'zstd')
  const message = readFileSync(file('csv.esdk'))
  assert(message.length < plain.length / 10, `compressed: ${message.length} bytes for ${plain.length}`)
  const { plaintext, messageHeader } = await decrypt(keyring(), message)
  assertEqual(messageHeader.encryptionContext['coffer:compression'], 'zstd', 'coffer:compression')
  const unzstd = spawnSync('zstd', ['-d', '-c'], { input: plaintext, maxBuffer: 64 << 20 })
  assertEqual(unzstd.status, 0, 'zstd -d')
  sameBytes(unzstd.stdout, plain, 'decompressed')
  cofferOk('decrypt', '--in', file('csv.esdk'), '--out', file('csv.back'))
  sameBytes(readFileSync(file('csv.back')), plain, 'coffer decrypt decompresses by itself')
})

const jsCases = [
  { name: 'its default suite 0x0578 with 4096-byte frames', opts: {}, size: 200000 + 3, suite: 0x0578 },
  { name: 'suite 0x0478 with 1 MiB frames', opts: { suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, frameLength: 1048576 }, size: 2 * 1048576 + 9, suite: 0x0478 },
  { name: '0x0478, a multiple of 1 MiB', opts: { suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, frameLength: 1048576 }, size: 2 * 1048576, suite: 0x0478 },
  { name: 'an empty plaintext', opts: {}, size: 0, suite: 0x0578 },
]
let jsMessage
for (const c of jsCases) {
  await check(`ESDK for JavaScript encrypt (${c.name}) -> coffer decrypt`, async () => {
    const plain = randomBytes(c.size)
    const generator = new KmsKeyringNode({ generatorKeyId: key.Arn, clientProvider })
    const { result, messageHeader } = await encrypt(generator, plain, { encryptionContext: context, ...c.opts })
    assertEqual(messageHeader.suiteId, c.suite, 'suite')
    if (c.suite === 0x0578 && c.size > 0) jsMessage = result
    writeFileSync(file('js.esdk'), result)
    rmSync(file('js.out'), { force: true })
    cofferOk('decrypt', '--in', file('js.esdk'), '--out', file('js.out'), '--encryption-context', 'purpose=backup')
    sameBytes(readFileSync(file('js.out')), plain, 'plaintext')
    // and through standard input/output, with the key named (strict mode)
    const r = spawnSync(cofferBin, ['decrypt', '--in', '-', '--out', '-', '--key-id', key.Arn], {
      input: result,
      env: { ...process.env, AWS_SHARED_CREDENTIALS_FILE: credentialsFile, COFFER_ENDPOINT_URL: endpoint },
      maxBuffer: 64 << 20,
    })
    assertEqual(r.status, 0, `decrypt via pipes: ${r.stderr}`)
    sameBytes(r.stdout, plain, 'plaintext via pipes')
  })
}

await check('coffer decrypt refuses a damaged ESDK message and leaves no output file', async () => {
  assert(jsMessage, 'a message from the previous checks')
  for (const at of [10, Math.floor(jsMessage.length / 2), jsMessage.length - 20]) {
    const bad = Buffer.from(jsMessage)
    bad[at] ^= 0x01
    writeFileSync(file('bad.esdk'), bad)
    const r = coffer('decrypt', '--in', file('bad.esdk'), '--out', file('bad.out'))
    assert(r.status !== 0, `a flipped bit at ${at} was accepted`)
    assert(!existsSync(file('bad.out')), 'an output file was left')
  }
  writeFileSync(file('short.esdk'), jsMessage.subarray(0, jsMessage.length - 1))
  const r = coffer('decrypt', '--in', file('short.esdk'), '--out', file('short.out'))
  assert(r.status !== 0 && /TruncatedMessage|truncated/i.test(r.stderr), `truncation: ${r.status} ${r.stderr}`)
  assert(!existsSync(file('short.out')), 'an output file was left')
})

await check('coffer decrypt refuses a context the message does not hold, and another key in strict mode', async () => {
  writeFileSync(file('js.esdk'), jsMessage)
  let r = coffer('decrypt', '--in', file('js.esdk'), '--out', file('ctx.out'), '--encryption-context', 'purpose=other')
  assert(r.status !== 0 && r.stderr.includes('purpose'), `context: ${r.status} ${r.stderr}`)
  assert(!existsSync(file('ctx.out')), 'an output file was left')
  const other = (await kms.createKey({ Description: 'other' })).KeyMetadata
  r = coffer('decrypt', '--in', file('js.esdk'), '--out', file('key.out'), '--key-id', other.Arn)
  assert(r.status !== 0 && r.stderr.includes(key.Arn), `strict mode: ${r.status} ${r.stderr}`)
  assert(!existsSync(file('key.out')), 'an output file was left')
})

await check('coffer decrypt of a message under a disabled key fails with DisabledException', async () => {
  await kms.disableKey({ KeyId: key.KeyId })
  try {
    const r = coffer('decrypt', '--in', file('js.esdk'), '--out', file('dis.out'))
    assertEqual(r.status, 254, `exit status (${r.stderr})`)
    assert(r.stderr.includes('An error occurred (DisabledException) when calling the Decrypt operation'), r.stderr)
    assert(!existsSync(file('dis.out')), 'an output file was left')
  } finally {
    await kms.enableKey({ KeyId: key.KeyId })
  }
})

rmSync(work, { recursive: true, force: true })
finish(label)

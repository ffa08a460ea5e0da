// The small test harness of the JavaScript interop scripts: TAP-like "ok - …" /
// "not ok - …" lines, assertions, the root credentials file, and the closing
// summary line (also appended to $COFFER_INTEROP_RESULTS for run.sh).
import { appendFileSync, readFileSync } from 'node:fs'

let passed = 0
let failed = 0

// Runs one named check; a thrown error fails it and prints its stack.
export async function check (name, fn) {
  try {
    await fn()
    passed++
    console.log(`ok - ${name}`)
  } catch (e) {
    failed++
    console.log(`not ok - ${name}`)
    console.log(String((e && e.stack) || e).split('\n').slice(0, 12).map((l) => '    ' + l).join('\n'))
  }
}

export function assert (cond, message) {
  if (!cond) throw new Error(message)
}

export function assertEqual (got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
}

// Awaits `promise`, which must fail with an error mentioning each of `includes`.
export async function assertRejects (promise, includes, what) {
  let error
  try {
    await promise
  } catch (e) {
    error = e
  }
  if (!error) throw new Error(`${what}: expected a failure, it succeeded`)
  const text = `${error.name}: ${error.message}\n${error.stack}`
  for (const s of includes) {
    if (!text.includes(s)) throw new Error(`${what}: the error does not mention ${JSON.stringify(s)}:\n${text.slice(0, 1500)}`)
  }
  return error
}

// The [default] access key of an AWS shared-credentials file.
export function readCredentials (path) {
  const text = readFileSync(path, 'utf8')
  const get = (k) => {
    const m = text.match(new RegExp(`^\\s*${k}\\s*=\\s*(\\S+)\\s*$`, 'm'))
    return m && m[1]
  }
  const accessKeyId = get('aws_access_key_id')
  const secretAccessKey = get('aws_secret_access_key')
  if (!accessKeyId || !secretAccessKey) throw new Error(`no [default] key in ${path}`)
  return { accessKeyId, secretAccessKey }
}

// Prints "<label>: N passed, N failed[ (note)]", records it for run.sh and exits:
// 0 only if at least one check ran and none failed. A note says why the script
// stops early, which counts as one more failure.
export function finish (label, note = '') {
  if (note) failed++
  const line = `${label}: ${passed} passed, ${failed} failed${note ? ` (${note})` : ''}`
  console.log(line)
  if (process.env.COFFER_INTEROP_RESULTS) appendFileSync(process.env.COFFER_INTEROP_RESULTS, `${passed} ${failed} 0 ${line}\n`)
  process.exit(failed === 0 && passed > 0 ? 0 : 1)
}

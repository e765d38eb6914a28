'use strict'
// Child processes for the example and interop tests: servers that print
// "listening on HOST:PORT", with bounded waits everywhere.

const { spawn } = require('node:child_process')
const path = require('node:path')
const fs = require('node:fs')

const REPO = path.resolve(__dirname, '..', '..', '..')
const C_EXAMPLES = path.join(REPO, 'build', 'examples')
const NODE_EXAMPLES = path.join(REPO, 'examples', 'node')

/** The C example binary, or null when `make examples` has not built it. */
function cExample(name) {
  const file = path.join(C_EXAMPLES, name)
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return file
  } catch {
    return null
  }
}

/**
 * Starts a server (argv[0] is the program) and resolves once it printed
 * "listening on HOST:PORT": { child, host, port, exited (Promise of
 * { code, signal }), stderr() }. `env`: its environment (default: ours).
 */
function startServer(argv, { ms = 10000, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${argv.join(' ')} did not print its listening line in ${ms} ms; stderr: ${err}`))
    }, ms)
    child.stderr.on('data', (d) => (err += d))
    child.stdout.on('data', (d) => {
      out += d
      const m = /^listening on (?:\[([^\]]+)\]|([^:\s]+)):(\d+)\n/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({ child, host: m[1] || m[2], port: Number(m[3]), exited, stdout: () => out, stderr: () => err })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${argv.join(' ')} exited (${code}) before listening; stderr: ${err}`))
    })
  })
}

/** Runs a program to completion (killed after `ms`): { code, signal, stdout, stderr }. */
function run(argv, { input, ms = 10000, cwd, env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), ms)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    if (input !== undefined) child.stdin.end(input)
    else child.stdin.end()
  })
}

/** Sends `signal` and resolves with the exit, killing the child if it takes longer than `ms`. */
async function stop(server, signal = 'SIGINT', ms = 8000) {
  server.child.kill(signal)
  let timer
  const killed = new Promise((resolve) => {
    timer = setTimeout(() => {
      server.child.kill('SIGKILL')
      resolve({ code: null, signal: 'SIGKILL', timedOut: true })
    }, ms)
  })
  const result = await Promise.race([server.exited, killed])
  clearTimeout(timer)
  return result
}

module.exports = { REPO, C_EXAMPLES, NODE_EXAMPLES, cExample, startServer, run, stop }

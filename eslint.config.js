import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import neostandard from 'neostandard'

const clerkAuthEntry = { group: ['**/clerk-auth/*.js', '!**/clerk-auth/index.js', '**/clerk-auth/testing/*.js', '!**/clerk-auth/testing/index.js'], message: 'Import clerk-auth from its entries, clerk-auth/index.js and clerk-auth/testing/index.js.' }
// depth: how far below plugins/clerk-auth/ the file is; one more ../ leaves the package
const outsideClerkAuth = (depth) => ({ group: [`${'../'.repeat(depth)}*`], message: 'clerk-auth imports only its own files and packages.' })
const noFastify = ['fastify', 'fastify-plugin'].map((name) => ({ name, message: 'Only the adapter files (index.ts, forward-auth.ts, webhooks.ts) import Fastify.' }))

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'plugins/clerk-auth/dist/**', 'coverage/**', '.tap/**', 'test-artifacts/**', 'reports/**', '.stryker-tmp/**'] }),
  {
    // No import cycles anywhere: every module can be read after the ones it imports.
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })]
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] }
  },
  {
    // clerk-auth is lifted out as a whole: it imports nothing from the service around it, and only
    // its adapter (index.ts, forward-auth.ts, webhooks.ts) knows Fastify: the verifier, the pure modules under it
    // and the test issuer work from a plain Node script.
    files: ['plugins/clerk-auth/*.ts'],
    ignores: ['plugins/clerk-auth/index.ts', 'plugins/clerk-auth/forward-auth.ts', 'plugins/clerk-auth/webhooks.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: noFastify, patterns: [outsideClerkAuth(1)] }] }
  },
  {
    files: ['plugins/clerk-auth/index.ts', 'plugins/clerk-auth/forward-auth.ts', 'plugins/clerk-auth/webhooks.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [outsideClerkAuth(1)] }] }
  },
  {
    files: ['plugins/clerk-auth/testing/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: noFastify, patterns: [outsideClerkAuth(2)] }] }
  },
  {
    // Its tests test it alone: a bare Fastify app, the plugin and its test issuer.
    files: ['plugins/clerk-auth/test/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [outsideClerkAuth(2)] }] }
  },
  {
    files: ['plugins/clerk-auth/test/support/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [outsideClerkAuth(3)] }] }
  },
  {
    // The service reaches clerk-auth through its one public entry (tests may unit-test its parts).
    files: ['src/**/*.ts', 'routes/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [clerkAuthEntry] }]
    }
  },
  {
    // So do the other plugins, which take everything as options: src/ composes them and they never
    // reach back into it.
    files: ['plugins/**/*.ts'],
    ignores: ['plugins/clerk-auth/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [clerkAuthEntry, { group: ['**/src/*'], message: 'Plugins take their settings as options from src/app.ts.' }] }]
    }
  }
]

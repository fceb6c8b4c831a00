import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import neostandard from 'neostandard'

const clerkAuthEntry = { group: ['**/clerk-auth/*.js', '!**/clerk-auth/index.js', '**/clerk-auth/testing/*.js', '!**/clerk-auth/testing/index.js'], message: 'Import clerk-auth from its entries, clerk-auth/index.js and clerk-auth/testing/index.js.' }
const outsideClerkAuth = { group: ['../*'], message: 'clerk-auth imports only its own files and packages.' }

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
    // clerk-auth is lifted out as a whole: it imports nothing from the service around it.
    files: ['plugins/clerk-auth/**/*.ts'],
    ignores: ['plugins/clerk-auth/test/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [outsideClerkAuth] }]
    }
  },
  {
    // Its tests test it alone: a bare Fastify app, the plugin and its test issuer.
    files: ['plugins/clerk-auth/test/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../../../*'], message: 'clerk-auth\'s tests import only clerk-auth and packages.' }] }]
    }
  },
  {
    // Only the adapter (index.ts, forward-auth.ts) knows Fastify: the verifier and the pure modules
    // under it work from a plain Node script.
    files: ['plugins/clerk-auth/**/*.ts'],
    ignores: ['plugins/clerk-auth/index.ts', 'plugins/clerk-auth/forward-auth.ts', 'plugins/clerk-auth/test/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'fastify', message: 'Only the adapter files (index.ts, forward-auth.ts) import Fastify.' },
          { name: 'fastify-plugin', message: 'Only the adapter files (index.ts, forward-auth.ts) import Fastify.' }
        ],
        patterns: [outsideClerkAuth]
      }]
    }
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

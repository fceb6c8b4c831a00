import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'plugins/clerk-auth/dist/**', 'coverage/**', '.tap/**', 'test-artifacts/**', 'reports/**', '.stryker-tmp/**'] }),
  {
    // clerk-auth is lifted out as a whole: it imports nothing from the service around it.
    files: ['plugins/clerk-auth/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*'], message: 'clerk-auth imports only its own files and packages.' }] }]
    }
  },
  {
    // Everything else reaches clerk-auth through its one public entry (tests may unit-test its parts).
    files: ['src/**/*.ts', 'routes/**/*.ts', 'bench/**/*.ts', 'plugins/graphql/**/*.ts', 'plugins/graphiql/**/*.ts', 'plugins/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/clerk-auth/*', '!**/clerk-auth/index.js'], message: 'Import clerk-auth from its entry, clerk-auth/index.js.' }] }]
    }
  }
]

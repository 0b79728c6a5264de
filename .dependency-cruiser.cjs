/**
 * The house rules `npm test` holds the code to (`npm run check:deps`): no import cycles, type-only
 * imports included, and dependencies that point one way. docs/architecture.md draws the layers.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'A file must not reach itself through its imports (type-only imports count).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-stays-core',
      severity: 'error',
      comment:
        'The core never imports the CLI or an integration (admin, metrics, swagger, throttler, secret scanning).',
      from: {
        path: '^lib/',
        pathNot: '^lib/(cli|admin|metrics|swagger|throttler|secret-scanning)/',
      },
      to: { path: '^lib/(cli|admin|metrics|swagger|throttler|secret-scanning)/' },
    },
    {
      name: 'integrations-use-the-core-only',
      severity: 'error',
      comment: 'An integration does not import another integration or the CLI.',
      from: { path: '^lib/(admin|metrics|swagger|throttler|secret-scanning)/' },
      to: {
        path: '^lib/(cli|admin|metrics|swagger|throttler|secret-scanning)/',
        pathNot: '^lib/$1/',
      },
    },
    {
      name: 'lib-is-self-contained',
      severity: 'error',
      comment: 'The shipped library never imports tests, the bench or the sample app.',
      from: { path: '^lib/', pathNot: '[.]spec[.]ts$' },
      to: { path: '^(test|bench|sample-app|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist|dist-check)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs'],
    },
  },
};

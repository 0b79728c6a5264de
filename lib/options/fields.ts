import type {
  ApiKeyModuleAsyncOptions,
  ApiKeyModuleOptions,
  ApiKeyOptions,
} from '../api-key.options.js';

/** One `true` per field of `T`: the compiler refuses a missing field and an extra one. */
type EveryField<T> = { [K in keyof Required<T>]: true };

/** The fields of an option that is an object or `false`. */
type NestedFields<O> = EveryField<Exclude<O, false | undefined>>;

/** The names of `fields`, whose type `satisfies` ties to an interface. */
function fieldNames<F extends Record<string, true>>(fields: F): ReadonlyArray<keyof F & string> {
  return Object.keys(fields);
}

/** Every key option, for the unknown-option check and the README completeness check. */
export const KEY_OPTIONS = fieldNames({
  header: true,
  keyword: true,
  brand: true,
  keyFormat: true,
  hasher: true,
  legacyHashers: true,
  usableWhere: true,
  clock: true,
  realm: true,
  verificationMemo: true,
  coldPath: true,
  usageTracking: true,
  rowCacheTtl: true,
  storeTimeout: true,
  revocationSync: true,
} satisfies EveryField<ApiKeyOptions>);

/** Options of forRoot that shape the module rather than key handling. */
export const REGISTRATION_OPTIONS = fieldNames({
  name: true,
  entity: true,
  dataSource: true,
  isGlobal: true,
} satisfies EveryField<Omit<ApiKeyModuleOptions, keyof ApiKeyOptions>>);

/** Every field `forRootAsync()` takes; key options come from its factory instead. */
export const ASYNC_REGISTRATION_FIELDS = fieldNames({
  imports: true,
  useFactory: true,
  inject: true,
  useClass: true,
  useExisting: true,
  extraProviders: true,
  name: true,
  entity: true,
  dataSource: true,
  isGlobal: true,
} satisfies EveryField<ApiKeyModuleAsyncOptions>);

/** Fields of `verificationMemo`. */
export const VERIFICATION_MEMO_FIELDS = fieldNames({
  maxEntries: true,
} satisfies NestedFields<ApiKeyOptions['verificationMemo']>);

/** Fields of `coldPath`. */
export const COLD_PATH_FIELDS = fieldNames({
  maxConcurrent: true,
  maxQueued: true,
  maxQueuedPerKey: true,
  failureMemoEntries: true,
} satisfies NestedFields<ApiKeyOptions['coldPath']>);

/** Fields of `usageTracking`. */
export const USAGE_TRACKING_FIELDS = fieldNames({
  interval: true,
} satisfies NestedFields<ApiKeyOptions['usageTracking']>);

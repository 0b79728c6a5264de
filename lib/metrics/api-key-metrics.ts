import {
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';
import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client';
import { ApiKeyService } from '../api-key.service.js';
import { USAGE_OUTCOMES } from '../usage/outcomes.js';

/** Name of the counter of verified requests, by registration and outcome. */
export const API_KEY_VERIFICATIONS_METRIC = 'api_key_verifications_total';
/** Name of the gauge of checks waiting for the cold path (the slow hash), by registration. */
export const API_KEY_COLD_PATH_QUEUE_METRIC = 'api_key_cold_path_queued';

/**
 * Options of `ApiKeyMetricsModule.forRoot()`.
 *
 * @publicApi
 */
export interface ApiKeyMetricsOptions {
  /**
   * The prom-client registry to register in. Default: prom-client's global `register`, the one
   * `@willsoto/nestjs-prometheus` serves unless told otherwise, so the metrics appear beside the
   * app's own at its `/metrics`.
   */
  registry?: Registry;
}

const OPTIONS = Symbol('API_KEY_METRICS_OPTIONS');

/**
 * Registers the API key metrics in a prom-client registry, reading every `ApiKeyService` of the
 * app at each scrape: `api_key_verifications_total{registration,outcome}` (requests carrying a
 * key, counted by the guard as usage analytics counts them; no per-key label, whose cardinality
 * would grow with the keys) and `api_key_cold_path_queued{registration}`. Nothing is done per
 * request beyond what usage analytics already does.
 *
 * @publicApi
 */
@Injectable()
export class ApiKeyMetrics implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly registry: Registry;
  private services: ApiKeyService<any>[] = [];
  /** What each service's totals were at the last scrape, to add only the difference. */
  private readonly reported = new Map<ApiKeyService<any>, number[]>();

  constructor(
    private readonly discovery: DiscoveryService,
    @Inject(OPTIONS) options: ApiKeyMetricsOptions,
  ) {
    this.registry = options.registry ?? defaultRegistry;
  }

  /** Finds the app's key services and registers the metrics (replacing any of the same names). */
  onApplicationBootstrap(): void {
    const instances = this.discovery.getProviders().map((wrapper) => wrapper.instance);
    this.services = [
      ...new Set(instances.filter((instance) => instance instanceof ApiKeyService)),
    ] as ApiKeyService<any>[];
    this.unregister();
    // prom-client calls `collect` with the metric as `this`; these carry ours in.
    const countInto = (counter: Counter<'registration' | 'outcome'>) =>
      this.collectVerifications(counter);
    const services = () => this.services;
    this.registry.registerMetric(
      new Counter({
        name: API_KEY_VERIFICATIONS_METRIC,
        help: 'Requests carrying an API key, by registration and outcome (ok, unauthorized, forbidden, usage_exceeded, rate_limited, unknown).',
        labelNames: ['registration', 'outcome'],
        registers: [],
        collect() {
          countInto(this);
        },
      }),
    );
    this.registry.registerMetric(
      new Gauge({
        name: API_KEY_COLD_PATH_QUEUE_METRIC,
        help: 'API key checks waiting for a slot on the cold path (the slow hash), by registration.',
        labelNames: ['registration'],
        registers: [],
        collect() {
          for (const service of services())
            this.set({ registration: service.options.name }, service.coldPathQueued);
        },
      }),
    );
  }

  /** Removes the metrics, so an app closed and made again in one process registers afresh. */
  onModuleDestroy(): void {
    this.unregister();
  }

  private collectVerifications(counter: Counter<'registration' | 'outcome'>): void {
    for (const service of this.services) {
      const totals = service.outcomeTotals;
      if (!totals) continue;
      let last = this.reported.get(service);
      if (!last) this.reported.set(service, (last = USAGE_OUTCOMES.map(() => 0)));
      USAGE_OUTCOMES.forEach((outcome, index) => {
        // A request recounted (ok, then rate_limited) may take a total back by one: a counter
        // never goes down, so what was reported stays until the total passes it again.
        const added = Math.max(0, totals[index] - last[index]);
        // Every label set appears from the first scrape on, at 0 until it happens.
        counter.inc({ registration: service.options.name, outcome }, added);
        last[index] += added;
      });
    }
  }

  private unregister(): void {
    for (const name of [API_KEY_VERIFICATIONS_METRIC, API_KEY_COLD_PATH_QUEUE_METRIC])
      this.registry.removeSingleMetric(name);
  }
}

/**
 * Prometheus metrics of every API key registration of the app, registered in its existing
 * prom-client registry: import `ApiKeyMetricsModule.forRoot()` once, anywhere. Serving them is the
 * app's (`@willsoto/nestjs-prometheus`, or a controller returning `registry.metrics()`).
 *
 * @publicApi
 */
@Module({})
export class ApiKeyMetricsModule {
  static forRoot(options: ApiKeyMetricsOptions = {}): DynamicModule {
    return {
      module: ApiKeyMetricsModule,
      imports: [DiscoveryModule],
      providers: [{ provide: OPTIONS, useValue: options }, ApiKeyMetrics],
      exports: [ApiKeyMetrics],
    };
  }
}

import type { Reporter, TestModule } from 'vitest/node';
import type { OptionalService } from './services.js';

/**
 * Ends a run that left specs out with a summary no one can miss: each missing service, where it
 * was looked for, how many tests it left out, and how to get it. Quiet when nothing is missing.
 */
export class LeftOutReporter implements Reporter {
  constructor(private readonly absent: readonly OptionalService[]) {}

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    if (this.absent.length === 0) return;
    const skipped = testModules.flatMap((module) =>
      [...module.children.allTests()].filter((test) => test.result().state === 'skipped'),
    );
    const lines = this.absent.map((service) => {
      const count = skipped.filter((test) => service.tests.test(test.fullName)).length;
      return [
        `  ${service.name}: not at ${service.where}; ${count} test${count === 1 ? '' : 's'} left out.`,
        `    Get it: ${service.howToGet}`,
      ].join('\n');
    });
    const rule = '!'.repeat(78);
    console.log(
      [
        '',
        rule,
        `  NOT EVERYTHING RAN: ${this.absent.map((service) => service.name).join(', ')} missing.`,
        ...lines,
        '  With CI=true a missing service fails the run instead.',
        rule,
        '',
      ].join('\n'),
    );
  }
}

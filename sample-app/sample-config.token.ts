/** Injection token of the sample app's `SampleConfig`. */
export const SAMPLE_CONFIG = 'SAMPLE_CONFIG';

// The adapter choices and the found-adapter record that both adapter discoveries share: Dawn's in Node and navigator.gpu in a browser.

/**
 * The adapter to use: `auto` tries the platform default, then Dawn's OpenGL ES backend.
 * `opengles`, `vulkan` and `swiftshader` name Dawn backends, so they work only in Node; a
 * browser accepts `auto` and `default` and picks its adapter itself.
 */
export type AdapterChoice = 'auto' | 'default' | 'opengles' | 'vulkan' | 'swiftshader';

export const ADAPTER_CHOICES: readonly AdapterChoice[] = ['auto', 'default', 'opengles', 'vulkan', 'swiftshader'];

export interface FoundAdapter {
  /** Dawn's `GPU` object in Node, `navigator.gpu` in a browser. */
  gpu: GPU;
  adapter: GPUAdapter;
  /** The Dawn backend that was asked for; `default` in a browser, whose adapter is the platform's. */
  dawnBackend: 'default' | 'opengles' | 'vulkan';
  featureLevel: 'core' | 'compatibility';
}

export * from './values.ts';
export * from './resource.ts';
export * from './resources.ts';
export * from './text.ts';

export { HierarchicalAllocator, AllocatorError } from './hierarchical.ts';
export type { Allocation, AllocatorOptions, AllocatorStats, FrameworkSpec, MinAllocatable } from './types.ts';

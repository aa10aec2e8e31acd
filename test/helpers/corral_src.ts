/**
 * `corral` from the TypeScript sources (bin/corral.js prefers a compiled dist/ when there is
 * one, which may be older than the sources under test): node --import tsx corral_src.ts <args>.
 */
import { main } from '../../lib/cli/main.ts';

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);

#!/usr/bin/env node
// The package's command: the compiled CLI (npm run build makes dist/).
// The agent's commands first restart node with their heap flags
// (engine/cli/relaunch.ts); the others run as started.
import { relaunch } from '../dist/engine/cli/relaunch.js';

await relaunch(process.argv);
const { main } = await import('../dist/engine/cli/main.js');
await main(process.argv);

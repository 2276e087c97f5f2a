#!/usr/bin/env node
// The package's command: the compiled CLI (npm run build makes dist/).
import { main } from '../dist/engine/cli/main.js';

await main(process.argv);

// Prints the configuration table (Markdown) from src/config/settings.ts, for the README.
import { configTableMarkdown } from '../src/config/docs.js';

process.stdout.write(configTableMarkdown() + '\n');

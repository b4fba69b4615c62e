import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

declare const process: { env: Record<string, string | undefined> };

export default defineConfig({
  // Relative asset URLs: the same build works from the HTTP server at `/`
  // and from a Tauri webview.
  base: './',
  plugins: [svelte()],
  // The LiveKit client (~570 kB) is its own chunk, loaded only by the join page.
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 650 },
  server: {
    // `npm run dev` against a running `switchboard serve` on the default port.
    proxy: {
      '/api': { target: process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8787', ws: true },
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});

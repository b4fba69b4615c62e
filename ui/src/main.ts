import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { app } from './lib/store.svelte';

app.init();
mount(App, { target: document.getElementById('app')! });

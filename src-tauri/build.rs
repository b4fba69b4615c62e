fn main() {
    // Reads tauri.conf.json (a symlink to the one at the repository root).
    tauri_build::build();
}

//! The tray icon: the pending count at a glance, "Open Switchboard", "Quit".

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Runtime};

use crate::watch::Pending;
use crate::window;

const OPEN: &str = "open";
const QUIT: &str = "quit";

pub struct Tray<R: Runtime> {
    icon: TrayIcon<R>,
    /// A disabled first menu entry with the count: Linux trays show no tooltips.
    status: MenuItem<R>,
}

impl<R: Runtime> Tray<R> {
    pub fn build(app: &AppHandle<R>) -> tauri::Result<Self> {
        let initial = Pending { count: 0 };
        let status = MenuItem::with_id(app, "status", initial.short(), false, None::<&str>)?;
        let open = MenuItem::with_id(app, OPEN, "Open Switchboard", true, None::<&str>)?;
        let quit = MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?;
        let menu = Menu::with_items(app, &[&status, &PredefinedMenuItem::separator(app)?, &open, &quit])?;
        let mut builder = TrayIconBuilder::with_id("main")
            .tooltip(initial.label())
            .title(initial.label())
            .menu(&menu)
            .show_menu_on_left_click(false)
            .on_menu_event(|app, event| match event.id().as_ref() {
                OPEN => {
                    window::show(app);
                }
                QUIT => app.exit(0),
                _ => {}
            })
            .on_tray_icon_event(|tray, event| {
                if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } =
                    event
                {
                    window::show(tray.app_handle());
                }
            });
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        let icon = builder.build(app)?;
        Ok(Tray { icon, status })
    }

    pub fn set_pending(&self, pending: Pending) {
        let label = pending.label();
        let results = [
            ("tooltip", self.icon.set_tooltip(Some(&label))),
            ("title", self.icon.set_title(Some(&label))),
            ("menu", self.status.set_text(pending.short())),
        ];
        for (what, result) in results {
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot update the tray {what}");
            }
        }
    }
}

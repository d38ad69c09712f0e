################################################################################
#
# babymonitor
#
################################################################################

# The firmware is built from the repository this tree lives in, not from a
# release tarball.
BABYMONITOR_VERSION = local
BABYMONITOR_SITE = $(BR2_EXTERNAL_BABYMONITOR_PATH)/..
BABYMONITOR_SITE_METHOD = local
BABYMONITOR_LICENSE = GPL-3.0-or-later
BABYMONITOR_SUBDIR = firmware
BABYMONITOR_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude target --exclude .venv --exclude node_modules \
	--exclude buildroot/output --exclude 'buildroot/.buildroot-*'

# Buildroot vendors the crates of a cargo-package in its download step,
# which a local package does not have. The same is done here: the crates
# that Cargo.lock names are fetched once into the download directory
# (`make babymonitor-vendor`, or automatically before the first build),
# and cargo builds offline from there.
BABYMONITOR_VENDOR_DIR = $(DL_DIR)/babymonitor/vendor

define BABYMONITOR_VENDOR_CMDS
	if ! cmp -s $(BABYMONITOR_SITE)/Cargo.lock $(BABYMONITOR_VENDOR_DIR)/Cargo.lock; then \
		rm -rf $(BABYMONITOR_VENDOR_DIR) && \
		mkdir -p $(BABYMONITOR_VENDOR_DIR) && \
		cd $(BABYMONITOR_SITE) && \
		$(HOST_MAKE_ENV) CARGO_HOME=$(BR_CARGO_HOME) \
			cargo vendor --locked --versioned-dirs \
			$(BABYMONITOR_VENDOR_DIR)/crates > /dev/null && \
		cp $(BABYMONITOR_SITE)/Cargo.lock $(BABYMONITOR_VENDOR_DIR)/Cargo.lock; \
	fi
endef

define BABYMONITOR_USE_VENDORED_CRATES
	$(BABYMONITOR_VENDOR_CMDS)
	mkdir -p $(@D)/.cargo
	printf '%s\n' \
		'[source.crates-io]' \
		'replace-with = "vendored-sources"' \
		'[source.vendored-sources]' \
		'directory = "$(BABYMONITOR_VENDOR_DIR)/crates"' \
		> $(@D)/.cargo/config.toml
endef
BABYMONITOR_PRE_CONFIGURE_HOOKS += BABYMONITOR_USE_VENDORED_CRATES

babymonitor-vendor: host-rustc
	$(BABYMONITOR_VENDOR_CMDS)

# The daemon's own user (S95babymonitor drops to it): no password, no shell, and
# the groups udev gives the devices it drives: the servos and IR switches (gpio),
# the BME280 (i2c), the camera and the H.264 encoder (video), the USB sound card
# (audio) and the watchdog.
define BABYMONITOR_USERS
	babymonitor -1 babymonitor -1 * - - gpio,i2c,video,audio,watchdog Baby monitor daemon
endef

# The daemon is restarted when it exits (respawn), runs the first-boot setup
# before the network comes up, and finds the image's defaults in /etc.
define BABYMONITOR_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(BABYMONITOR_PKGDIR)/S95babymonitor \
		$(TARGET_DIR)/etc/init.d/S95babymonitor
	$(INSTALL) -D -m 0755 $(BABYMONITOR_PKGDIR)/babymonitor-respawn \
		$(TARGET_DIR)/usr/libexec/babymonitor-respawn
endef

$(eval $(cargo-package))

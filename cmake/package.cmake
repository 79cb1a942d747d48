# The Debian packages, built by CPack from the install rules (cmake/install.cmake):
#   impulse      the binary, its shipped specs and models, the systemd unit with its user and
#                data directory (packaging/debian: maintainer scripts, conffiles)
#   impulse-dev  headers, static libraries and the CMake package config, for embedding
# `./dev package` configures the release build with CMAKE_INSTALL_PREFIX=/usr and runs cpack.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME impulse)
set(CPACK_PACKAGE_VENDOR "Impulse")
set(CPACK_PACKAGE_CONTACT "Impulse maintainers <impulse@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "event-driven streaming engine with features, models and actions")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Install with DESTDIR and the real prefix, so cmake/install_service.cmake sees /usr and puts
# the configuration in /etc.
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Impulse ingests events over HTTP, Kafka or NATS into durable partitioned logs, runs\npipelines of windowed aggregates, feature views, model scoring and actions on them, and\nserves the results over an HTTP API. Decisions in microseconds, exactly-once checkpoints.")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME impulse)
# The shared libraries the binary links (librdkafka, libnats, opencv, rocksdb, ...) named by
# dpkg-shlibdeps (dpkg-dev) from the binary itself, with their minimum versions.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
# useradd/groupadd (passwd) are in every Debian system; deb-systemd-helper (init-system-helpers)
# enables the unit even where systemd is not running yet; systemd itself is optional (a container
# or a chroot runs the binary by hand).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "init-system-helpers (>= 1.52)")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "systemd, curl")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME impulse-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# Static libraries: what they link is what impulseConfig.cmake finds, the -dev packages.
set(IMPULSE_DEV_DEPENDS "impulse (= ${PROJECT_VERSION}), g++ (>= 4:12), cmake (>= 3.25), libsimdjson-dev, libyaml-cpp-dev, libboost-dev, libboost-system-dev, prometheus-cpp-dev, librocksdb-dev, libcsv-dev, libxxhash-dev")
if(IMPULSE_WITH_ONNX)
  string(APPEND IMPULSE_DEV_DEPENDS ", libopencv-dnn-dev")
endif()
if(IMPULSE_WITH_KAFKA)
  string(APPEND IMPULSE_DEV_DEPENDS ", librdkafka-dev")
endif()
if(IMPULSE_WITH_NATS)
  string(APPEND IMPULSE_DEV_DEPENDS ", libnats-dev")
endif()
if(IMPULSE_WITH_KAFKA OR IMPULSE_WITH_NATS)
  string(APPEND IMPULSE_DEV_DEPENDS ", pkg-config")  # both are found through pkg-config
endif()
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${IMPULSE_DEV_DEPENDS}")

include(CPack)

# Install-time part of cmake/install.cmake: the systemd unit and the files under etc/, whose
# paths depend on where the install goes, which is known only now (`cmake --install --prefix`,
# or /usr under CPack). GNUInstallDirs' rule, applied to the install prefix: /usr puts the
# configuration in /etc, any other prefix in <prefix>/etc. file(INSTALL) adds $DESTDIR itself.
# Set before this runs: IMPULSE_SOURCE_DIR, IMPULSE_STAGE_DIR (scratch), IMPULSE_BINDIR,
# IMPULSE_DOCDIR (relative to the prefix).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(sysconf /etc)
else()
  set(sysconf ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(IMPULSE_SYSCONF_DIR ${sysconf}/impulse)
set(IMPULSE_ENV_FILE ${sysconf}/default/impulse)
set(IMPULSE_BIN_DIR ${CMAKE_INSTALL_PREFIX}/${IMPULSE_BINDIR})
set(IMPULSE_DOC_DIR ${CMAKE_INSTALL_PREFIX}/${IMPULSE_DOCDIR})
configure_file(${IMPULSE_SOURCE_DIR}/packaging/impulse.service.in ${IMPULSE_STAGE_DIR}/impulse.service @ONLY)
# lib/systemd/system under the prefix: systemd reads /usr/lib/systemd/system and
# /usr/local/lib/systemd/system (and /lib/systemd/system is the same directory on a merged /usr).
file(INSTALL DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system TYPE FILE FILES ${IMPULSE_STAGE_DIR}/impulse.service)
# The default spec: the quickstart. A conffile in the .deb (an edited copy survives upgrades).
file(INSTALL DESTINATION ${IMPULSE_SYSCONF_DIR} TYPE FILE
     FILES ${IMPULSE_SOURCE_DIR}/examples/quickstart/pipeline.yaml)
# The service's environment may hold the bearer token: readable by root alone.
file(INSTALL DESTINATION ${sysconf}/default TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
     FILES ${IMPULSE_SOURCE_DIR}/packaging/impulse.default RENAME impulse)

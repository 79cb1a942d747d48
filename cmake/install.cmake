# Installed layout (GNUInstallDirs):
#   bin/impulse
#   include/impulse/*.h                        the public API, nothing from src/
#   lib/libimpulse_*.a                         the engine's libraries (static)
#   lib/cmake/impulse/impulseConfig.cmake      find_package(impulse): target impulse::impulse
#   share/impulse/{examples,bench}/...         specs and models the binary's commands use
#   share/doc/impulse/                         README, OPERATIONS
#   lib/systemd/system/impulse.service         the service (cmake/install_service.cmake)
#   etc/impulse/pipeline.yaml, etc/default/impulse   its spec and environment (/etc for /usr)
# Two components: "runtime" (the binary, its shipped files and the service: the impulse .deb)
# and "dev" (headers, libraries, package config: impulse-dev), cmake/package.cmake.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# What an embedding application links: impulse_runtime and everything it needs. Static
# libraries carry their dependencies, so the whole closure is exported.
set(IMPULSE_EXPORTED_LIBRARIES
  impulse_common impulse_yaml_number impulse_event impulse_log impulse_checkpoint impulse_agg impulse_state impulse_model
  impulse_http_syntax impulse_action impulse_expr impulse_plan impulse_ops impulse_features impulse_spec impulse_physical
  impulse_connect impulse_runtime)

add_library(impulse_embed INTERFACE)
add_library(impulse::impulse ALIAS impulse_embed)
set_target_properties(impulse_embed PROPERTIES EXPORT_NAME impulse)
target_link_libraries(impulse_embed INTERFACE impulse_runtime)
target_include_directories(impulse_embed INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(impulse_embed INTERFACE cxx_std_20)
# A sanitized build's libraries need the sanitizer runtime in whatever links them, so its
# flags travel with the target.
if(IMPULSE_SANITIZE STREQUAL "address")
  target_compile_options(impulse_embed INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(impulse_embed INTERFACE -fsanitize=address,undefined)
elseif(IMPULSE_SANITIZE STREQUAL "thread")
  target_compile_options(impulse_embed INTERFACE -fsanitize=thread)
  target_link_options(impulse_embed INTERFACE -fsanitize=thread)
endif()

install(TARGETS impulse RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/impulse DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
        FILES_MATCHING PATTERN "*.h")
install(TARGETS ${IMPULSE_EXPORTED_LIBRARIES} impulse_embed EXPORT impulseTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
set(IMPULSE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/impulse)
install(EXPORT impulseTargets NAMESPACE impulse:: DESTINATION ${IMPULSE_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/impulseConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/impulseConfig.cmake INSTALL_DESTINATION ${IMPULSE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/impulseConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/impulseConfig.cmake ${PROJECT_BINARY_DIR}/impulseConfigVersion.cmake
        DESTINATION ${IMPULSE_CMAKE_DIR} COMPONENT dev)

# Shipped files, at the paths FindSharedFile is asked for.
set(IMPULSE_SHARE_DIR ${CMAKE_INSTALL_DATADIR}/impulse)
install(FILES ${PROJECT_SOURCE_DIR}/examples/quickstart/pipeline.yaml
        DESTINATION ${IMPULSE_SHARE_DIR}/examples/quickstart COMPONENT runtime)
file(GLOB IMPULSE_FRAUD_SPECS ${PROJECT_SOURCE_DIR}/examples/fraud/*.yaml)
install(FILES ${IMPULSE_FRAUD_SPECS} ${PROJECT_SOURCE_DIR}/examples/fraud/README.md
        DESTINATION ${IMPULSE_SHARE_DIR}/examples/fraud COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/examples/personalization/features.yaml
              ${PROJECT_SOURCE_DIR}/examples/personalization/rank.yaml
              ${PROJECT_SOURCE_DIR}/examples/personalization/README.md
        DESTINATION ${IMPULSE_SHARE_DIR}/examples/personalization COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/personalization/models
        DESTINATION ${IMPULSE_SHARE_DIR}/examples/personalization COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/fraud/models DESTINATION ${IMPULSE_SHARE_DIR}/examples/fraud
        COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/bench/nexmark/ DESTINATION ${IMPULSE_SHARE_DIR}/bench/nexmark COMPONENT runtime
        FILES_MATCHING PATTERN "*.yaml")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/bench/ysb/ DESTINATION ${IMPULSE_SHARE_DIR}/bench/ysb COMPONENT runtime
        FILES_MATCHING PATTERN "*.yaml")
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/OPERATIONS.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT runtime)

# The service: paths filled in at install time, when the prefix is known.
install(CODE "set(IMPULSE_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
set(IMPULSE_STAGE_DIR \"${PROJECT_BINARY_DIR}/install-service\")
set(IMPULSE_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
set(IMPULSE_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")" COMPONENT runtime)
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_service.cmake COMPONENT runtime)

include(${PROJECT_SOURCE_DIR}/cmake/package.cmake)

# Install rules and the Debian package: `cmake --install build` or, from the
# build folder, `cpack -G DEB` (see docs/operations.md). Included at the end
# of the top-level CMakeLists.txt so every program target exists.
#
# Layout (prefix /usr in the package):
#   lib/agentgate/           the programs, agentgate-wait-ready, agentgate-setup
#   bin/agentgate            symlink to /usr/lib/agentgate/agentgate
#   lib/systemd/system/      the units
#   share/agentgate/         default config, policy, /etc/default file, examples/, rules/
#   share/doc/agentgate/     the docs
# The postinst (packaging/postinst) runs agentgate-setup: accounts, folders,
# and /etc/agentgate/*.yaml from share/agentgate when missing.

foreach(program agentgate agentgate-mirror agentgate-pre-receive agentgate-post-receive agentgate-hook)
  if(TARGET ${program})
    install(TARGETS ${program} RUNTIME DESTINATION lib/agentgate)
  endif()
endforeach()
install(PROGRAMS ${PROJECT_SOURCE_DIR}/systemd/agentgate-wait-ready
                 ${PROJECT_SOURCE_DIR}/packaging/agentgate-setup
        DESTINATION lib/agentgate)
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/packaging)
file(CREATE_LINK /usr/lib/agentgate/agentgate ${PROJECT_BINARY_DIR}/packaging/agentgate SYMBOLIC)
install(FILES ${PROJECT_BINARY_DIR}/packaging/agentgate DESTINATION bin)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/agentgate-mirror.service
              ${PROJECT_SOURCE_DIR}/systemd/agentgate-maintenance.service
              ${PROJECT_SOURCE_DIR}/systemd/agentgate-maintenance.timer
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/agentgate.yaml
              ${PROJECT_SOURCE_DIR}/systemd/default.agentgate
        DESTINATION share/agentgate)
install(FILES ${PROJECT_SOURCE_DIR}/policies/default.yaml
        DESTINATION share/agentgate RENAME policy.yaml)
file(GLOB ag_policy_examples ${PROJECT_SOURCE_DIR}/policies/examples/*.yaml)
install(FILES ${ag_policy_examples} DESTINATION share/agentgate/examples)
file(GLOB ag_rule_packs ${PROJECT_SOURCE_DIR}/policies/rules/*.yaml)
install(FILES ${ag_rule_packs} DESTINATION share/agentgate/rules)
file(GLOB ag_docs ${PROJECT_SOURCE_DIR}/docs/*.md ${PROJECT_SOURCE_DIR}/docs/*.yaml)
install(FILES ${ag_docs} DESTINATION share/doc/agentgate)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME agentgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR agentgate)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "guarded git mirror for AI coding agents")
set(CPACK_PACKAGE_CONTACT "agentgate maintainers <agentgate@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION vcs)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)  # the debug info stays in the build folder
set(CPACK_DEBIAN_PACKAGE_DEPENDS "git, curl, passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/postinst
                                       ${PROJECT_SOURCE_DIR}/packaging/prerm
                                       ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)

install(TARGETS aisearchd aisearch-emulator RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES systemd/aisearchd.service DESTINATION lib/systemd/system OPTIONAL)
install(FILES config/aisearchd.yaml DESTINATION /etc/aisearchd OPTIONAL)
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES README.md ARCHITECTURE.md DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

# Debian package: `cpack -G DEB` in a build directory (tests/scripts/deb_package_test.sh).
# Installs /usr/bin/aisearchd (+ the emulator), /usr/lib/systemd/system/aisearchd.service,
# /etc/aisearchd/aisearchd.yaml (a conffile: local edits survive upgrades) and the examples in
# /usr/share/doc/aisearchd/examples. The service is not enabled or started by the package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME aisearchd)
set(CPACK_PACKAGE_CONTACT "aisearchd maintainers <aisearchd@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Keeps Cloudflare AI Search instances equal to a YAML manifest")
# One string (several quoted arguments would make a list, joined with ';' in the control file).
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "aisearchd reconciles Cloudflare AI Search instances and namespaces with a YAML manifest "
       "kept in git, runs their sync jobs on schedules and reports every outcome (logs, Prometheus "
       "metrics, webhook). Ships the systemd unit and aisearch-emulator, a local stand-in for the "
       "API.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(AISEARCHD_DEB_CONTROL_DIR ${CMAKE_BINARY_DIR}/debian-control)
file(WRITE ${AISEARCHD_DEB_CONTROL_DIR}/conffiles "/etc/aisearchd/aisearchd.yaml\n")
foreach(script postinst prerm postrm)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/deb/${script} ${AISEARCHD_DEB_CONTROL_DIR}/${script}
                 COPYONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
                 GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${AISEARCHD_DEB_CONTROL_DIR}/conffiles;${AISEARCHD_DEB_CONTROL_DIR}/postinst;${AISEARCHD_DEB_CONTROL_DIR}/prerm;${AISEARCHD_DEB_CONTROL_DIR}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)

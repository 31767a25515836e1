# cmake/packaging.cmake — what `cmake --install` lays out and how CPack turns it into a
# Debian package: binaries, migrations and roles.sql, the sample configuration, the
# systemd unit and the operations guide. Release packages are built by scripts/package
# (prefix /usr, GS_USE_SOURCE_SQL=OFF); the .deb's runtime dependencies come from
# dpkg-shlibdeps, so they are the Debian library packages the binaries link against.
include(GNUInstallDirs)

install(TARGETS gridstockd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET gridstock)
  install(TARGETS gridstock RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# migrations (share/gridstock/sql/migrations, found via GS_INSTALLED_SQL_DIR), demo data,
# roles.sql
install(DIRECTORY ${CMAKE_SOURCE_DIR}/sql/ DESTINATION ${CMAKE_INSTALL_DATADIR}/gridstock/sql)
install(FILES ${CMAKE_SOURCE_DIR}/etc/gridstockd.conf.sample
        DESTINATION ${CMAKE_INSTALL_DATADIR}/gridstock)
foreach(doc operations.md)
  if(EXISTS ${CMAKE_SOURCE_DIR}/docs/${doc})
    install(FILES ${CMAKE_SOURCE_DIR}/docs/${doc} DESTINATION ${CMAKE_INSTALL_DOCDIR})
  endif()
endforeach()

# The unit names /usr/bin and /usr/share; other prefixes get their own paths.
file(READ ${CMAKE_SOURCE_DIR}/etc/gridstockd.service GS_UNIT)
string(REPLACE "/usr/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/" GS_UNIT "${GS_UNIT}")
string(REPLACE "/usr/share/" "${CMAKE_INSTALL_FULL_DATADIR}/" GS_UNIT "${GS_UNIT}")
file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/gridstockd.service CONTENT "${GS_UNIT}" @ONLY)
set(GS_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "where the systemd unit goes, relative to the prefix")
install(FILES ${CMAKE_BINARY_DIR}/gridstockd.service DESTINATION ${GS_SYSTEMD_UNIT_DIR})

set(CPACK_PACKAGE_NAME gridstock)
set(CPACK_PACKAGE_VENDOR "gridstock")
set(CPACK_PACKAGE_CONTACT "gridstock maintainers <gridstock@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "inventory and grid work fund server for district grid governance (gRPC over PostgreSQL)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
# the package holds exactly what this build was configured for
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst creates the gridstock system user (adduser); the server talks to PostgreSQL
# over the network, so the database itself is only suggested
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql (>= 15), postgresql-contrib")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

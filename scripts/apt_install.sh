# Sourced by the ensure_*.sh scripts: install a Debian package for the tests when we are root on a
# machine with apt-get, else return 1 so the caller can say how to get it.
apt_install() {
    local package="$1"
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    echo "installing Debian's $package for the tests (apt-get install $package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "$package" >/dev/null
}
